"""Trainers: RecBole's, with checkpoints that load under ``torch.load(weights_only=True)``.

RecBole 1.2.1 pickles its whole ``Config`` into every checkpoint and reads it back with a plain ``torch.load``, which
torch >= 2.6 refuses. :class:`SafeCheckpointMixin` replaces the three places that touch checkpoint files
(``_save_checkpoint``, ``resume_checkpoint`` and ``evaluate(load_best_model=True)``) and is mixed into whichever
trainer class RecBole picks for a model (``Trainer``, ``NCLTrainer``, ``RecVAETrainer``, ...).
"""

import functools
import time

from recbole.trainer import Trainer as RecBoleTrainer

from recbole_unlearn.checkpoint import check_compatible, load_checkpoint, restore_model, save_checkpoint


class SafeCheckpointMixin:
    """Checkpoint I/O through :mod:`recbole_unlearn.checkpoint` for any RecBole trainer."""

    checkpoint_dataset = None  # the training dataset, set by fit(); its token maps go into the checkpoint
    fit_started = None  # perf_counter() at the start of fit(): checkpoints record the training time up to them

    def fit(self, train_data, *args, **kwargs):
        self.checkpoint_dataset = train_data._dataset
        self.fit_started = time.perf_counter()
        return super().fit(train_data, *args, **kwargs)

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        if not self.config["single_spec"] and self.config["local_rank"] != 0:
            return
        path = kwargs.pop("saved_model_file", self.saved_model_file)
        save_checkpoint(
            path,
            self.model,
            self.config,
            self.checkpoint_dataset,
            epoch=int(epoch),
            cur_step=int(self.cur_step),
            best_valid_score=float(self.best_valid_score),
            optimizer=self.optimizer.state_dict(),
            train_time_s=time.perf_counter() - self.fit_started if self.fit_started else None,
        )
        if verbose:
            self.logger.info(f"Saving current: {path}")

    def load_checkpoint_file(self, path, dataset=None):
        """Read ``path`` safely, refuse it if it belongs to another model or dataset, load it into the model."""
        state = load_checkpoint(path, map_location=self.device)
        dataset = dataset if dataset is not None else self.checkpoint_dataset
        if dataset is not None:
            check_compatible(state, path, self.config["model"], dataset)
        restore_model(self.model, state)
        return state

    def resume_checkpoint(self, resume_file):
        resume_file = str(resume_file)
        self.saved_model_file = resume_file
        state = self.load_checkpoint_file(resume_file)
        self.start_epoch = state["epoch"] + 1
        self.cur_step = state["cur_step"]
        self.best_valid_score = state["best_valid_score"]
        self.optimizer.load_state_dict(state["optimizer"])
        self.logger.info(f"Checkpoint loaded. Resume training from epoch {self.start_epoch}")

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if not eval_data:
            return None
        if load_best_model:
            checkpoint_file = model_file or self.saved_model_file
            self.load_checkpoint_file(checkpoint_file, dataset=self.checkpoint_dataset or eval_data._dataset)
            self.logger.info(f"Loading model structure and parameters from {checkpoint_file}")
        return super().evaluate(eval_data, load_best_model=False, show_progress=show_progress)


@functools.cache
def with_safe_checkpoints(trainer_class):
    """``trainer_class`` with :class:`SafeCheckpointMixin` mixed in (one subclass per trainer class)."""
    if issubclass(trainer_class, SafeCheckpointMixin) or not issubclass(trainer_class, RecBoleTrainer):
        return trainer_class
    return type(f"Safe{trainer_class.__name__}", (SafeCheckpointMixin, trainer_class), {})


Trainer = with_safe_checkpoints(RecBoleTrainer)
