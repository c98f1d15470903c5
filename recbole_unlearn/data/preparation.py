"""Dataset and dataloader construction, always from the data files.

RecBole's ``create_dataset`` / ``data_preparation`` reuse pickled datasets and dataloaders found in ``checkpoint_dir``
(``<dataset>-<Class>.pth``, ``<dataset>-for-<model>-dataloader.pth``), even with ``save_dataset: False``: stale once
the data changes, and unpickling a file is unsafe. These two functions do the same job without any cache.
"""

from logging import getLogger

from recbole.data.utils import create_samplers, get_dataloader
from recbole.utils import ModelType, set_color

from recbole_unlearn.data.lookup import get_dataset_class
from recbole_unlearn.errors import InputError


def create_dataset(config):
    """The dataset a config asks for, built from its files (:func:`~recbole_unlearn.data.lookup.get_dataset_class`)."""
    dataset = get_dataset_class(config)(config)
    getLogger().info(dataset)
    return dataset


def built_datasets(config, dataset) -> list:
    """``[train, valid, test]``: ``dataset`` split as ``eval_args`` (or the dataset itself) says, without RecBole's
    dataloaders, for work that reads the data only (unlearning a checkpoint, serving, verifying): their samplers and
    full-sort loaders keep per-user structures, 4.7 GiB for 1.2 million users."""
    if config["MODEL_TYPE"] == ModelType.KNOWLEDGE:
        raise InputError(f"model {config['model']}: knowledge-aware models are not supported, only general ones")
    return dataset.build()


def data_preparation(config, dataset):
    """:func:`built_datasets` wrapped in RecBole dataloaders."""
    train, valid, test = dataloaders(config, built_datasets(config, dataset))
    getLogger().info(
        set_color("[Training]: ", "pink")
        + f"train_batch_size = [{config['train_batch_size']}] "
        + f"train_neg_sample_args: [{config['train_neg_sample_args']}]"
    )
    return train, valid, test


def dataloaders(config, built):
    """RecBole's train / valid / test dataloaders over already split datasets ``built = [train, valid, test]``.

    Evaluation masks as history what precedes a split in ``built`` (train for valid, train + valid for test).
    """
    samplers = create_samplers(config, built[0], built)
    train = get_dataloader(config, "train")(config, built[0], samplers[0], shuffle=config["shuffle"])
    valid = get_dataloader(config, "valid")(config, built[1], samplers[1], shuffle=False)
    test = get_dataloader(config, "test")(config, built[2], samplers[2], shuffle=False)
    return train, valid, test
