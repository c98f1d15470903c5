"""Datasets and data preparation: readers, multimodal features, forget requests and the forget / retain split."""

from recbole_unlearn.data.multimodal import MultimodalDataset
from recbole_unlearn.data.preparation import (
    built_datasets,
    create_dataset,
    data_preparation,
    dataloaders,
)

__all__ = ["MultimodalDataset", "built_datasets", "create_dataset", "data_preparation", "dataloaders"]
