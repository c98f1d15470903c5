"""Unlearning: the settings, the trainer and the methods, rebinding a model to the retain data, streams of requests
and their lineage."""
