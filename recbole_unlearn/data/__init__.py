"""Datasets and data preparation."""

from recbole_unlearn.data.preparation import create_dataset, data_preparation

# Dataset classes tried in order by recbole_unlearn.registry.get_dataset_class; each says if it handles a config.
DATASETS = []

__all__ = ["DATASETS", "create_dataset", "data_preparation"]
