"""Which dataset class a config gets: this package's first, then RecBole's choice by model type."""

import recbole.data.dataset as recbole_datasets
from recbole.utils import ModelType

from recbole_unlearn.data.multimodal import MultimodalDataset

# Dataset classes tried in order; each says whether it handles a config.
DATASETS = [MultimodalDataset]


def get_dataset_class(config):
    """The dataset class for a config: ``<model>Dataset`` of this package, then RecBole's choice by model type."""
    ours = {cls.__name__: cls for cls in DATASETS}.get(f"{config['model']}Dataset")
    if ours is not None:
        return ours
    for cls in DATASETS:
        if cls.handles(config):
            return cls
    if hasattr(recbole_datasets, f"{config['model']}Dataset"):
        return getattr(recbole_datasets, f"{config['model']}Dataset")
    by_type = {ModelType.SEQUENTIAL: "SequentialDataset", ModelType.KNOWLEDGE: "KnowledgeBasedDataset"}
    return getattr(recbole_datasets, by_type.get(config["MODEL_TYPE"], "Dataset"))
