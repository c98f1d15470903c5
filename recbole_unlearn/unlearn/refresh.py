"""The correction for long streams of requests: a short retraining on the cumulative retain set.

Every ``unlearn_refresh_every``-th request of a stream ends with ``unlearn_refresh_epochs`` epochs of the model's own
training loss on the retain set (RecBole's trainer, the model's learning rate), from the unlearned weights.
"""

from recbole_unlearn.data.preparation import dataloaders
from recbole_unlearn.registry import build_trainer
from recbole_unlearn.scoring import clear_cached_embeddings


def refresh_on_retain(model, split, config, epochs, show_progress=False):
    """``epochs`` training epochs of ``model`` on ``split.retain_train``; returns the model, in eval mode."""
    train, _, _ = dataloaders(config, [split.retain_train, split.retain_valid, split.retain_test])
    trainer = build_trainer(config, model)
    for epoch in range(epochs):
        trainer._train_epoch(train, epoch, show_progress=show_progress)
    model.eval()
    clear_cached_embeddings(model)
    return model
