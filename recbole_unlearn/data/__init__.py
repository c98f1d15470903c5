"""Datasets and data preparation."""

from recbole_unlearn.data.multimodal import MultimodalDataset
from recbole_unlearn.data.preparation import create_dataset, data_preparation, dataloaders

# Dataset classes tried in order by recbole_unlearn.registry.get_dataset_class; each says if it handles a config.
DATASETS = [MultimodalDataset]

__all__ = ["DATASETS", "MultimodalDataset", "create_dataset", "data_preparation", "dataloaders"]
