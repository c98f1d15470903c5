"""Unlearning: requests, the forget/retain split, rebinding a model to the retain data, the trainer and the methods."""
