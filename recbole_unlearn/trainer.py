"""Trainers: RecBole's, with checkpoints that load under ``torch.load(weights_only=True)``.

RecBole 1.2.1 pickles its whole ``Config`` into every checkpoint and reads it back with a plain ``torch.load``, which
torch >= 2.6 refuses. :class:`SafeCheckpointMixin` replaces the three places that touch checkpoint files
(``_save_checkpoint``, ``resume_checkpoint`` and ``evaluate(load_best_model=True)``) and is mixed into whichever
trainer class RecBole picks for a model (``Trainer``, ``NCLTrainer``, ``RecVAETrainer``, ...).

It also makes RecBole's multi-process mode (``nproc``, :mod:`recbole_unlearn.distributed`) work on CPUs and evaluate
exactly: the model is wrapped in ``DistributedDataParallel`` without ``device_ids`` on a CPU, every rank's evaluation
rows are gathered before the metrics are computed (:class:`RankGatheringCollector`), only global rank 0 writes
checkpoints, and a checkpoint is read by rank 0 and sent to the others (a machine without rank 0 needs no copy).
"""

import copy
import functools
import time

import torch
from recbole.evaluator import Collector
from recbole.trainer import Trainer as RecBoleTrainer

from recbole_unlearn import distributed
from recbole_unlearn.checkpoint import (
    check_compatible,
    load_checkpoint,
    restore_model,
    save_checkpoint,
)

ROW_KEYS = ("rec.topk", "rec.meanrank", "rec.score", "rec.items", "data.label")  # per-sample evaluation data


class RankGatheringCollector(Collector):
    """RecBole's ``Collector`` for a multi-process run: before metrics are computed, the per-sample rows of every
    rank are gathered in sample order, the sampler's padding dropped
    (:func:`~recbole_unlearn.distributed.gather_samples`). Every rank then computes exactly the metrics one process
    computes over all samples (RecBole instead averages per-rank metrics weighted by batch counts, counting padded
    samples twice)."""

    n_samples = None  # samples of the evaluation data being collected, set by evaluate()

    def get_data_struct(self):
        struct = super().get_data_struct()
        for key in ROW_KEYS:
            if key in struct:
                struct.set(key, distributed.gather_samples(struct.get(key), self.n_samples))
        return struct


class SafeCheckpointMixin:
    """Checkpoint I/O through :mod:`recbole_unlearn.checkpoint` for any RecBole trainer."""

    checkpoint_dataset = None  # the training dataset, set by fit(); its token maps go into the checkpoint
    fit_started = None  # perf_counter() at the start of fit(): checkpoints record the training time up to them

    def __init__(self, config, model):
        if config["single_spec"]:
            super().__init__(config, model)
            return
        # RecBole's own wrapping passes device_ids=[local_rank], which DistributedDataParallel refuses for CPU modules
        single_view = copy.copy(config)
        single_view.final_config_dict = {**config.final_config_dict, "single_spec": True}
        super().__init__(single_view, model)
        self.config = config
        self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        device = config["device"]
        self.distributed_model = torch.nn.parallel.DistributedDataParallel(
            self.model, device_ids=[device.index] if device.type == "cuda" else None
        )
        self.eval_collector = RankGatheringCollector(config)
        self.saved_model_file = distributed.from_rank0(lambda: self.saved_model_file)  # one name in every rank

    def fit(self, train_data, *args, **kwargs):
        self.checkpoint_dataset = train_data._dataset
        self.fit_started = time.perf_counter()
        return super().fit(train_data, *args, **kwargs)

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        if not distributed.is_main_process(self.config):
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
        """Read ``path`` safely, refuse it if it belongs to another model or dataset, load it into the model.

        In a multi-process run global rank 0 reads it and sends it to every rank."""
        dataset = dataset if dataset is not None else self.checkpoint_dataset

        def read(map_location):
            state = load_checkpoint(path, map_location=map_location)
            if dataset is not None:
                check_compatible(state, path, self.config["model"], dataset)
            return state

        if self.config["single_spec"]:
            state = read(self.device)
        else:
            state = distributed.from_rank0(lambda: read("cpu"))
            other = state.get("other_parameter") or {}
            state["other_parameter"] = {k: v.to(self.device) if v is not None else v for k, v in other.items()}
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
        if not self.config["single_spec"]:
            self.eval_collector.n_samples = eval_data.sample_size
        return super().evaluate(eval_data, load_best_model=False, show_progress=show_progress)

    def _map_reduce(self, result, num_sample):
        """The metrics are already over every rank's samples (:class:`RankGatheringCollector`): nothing to reduce."""
        return result


@functools.cache
def with_safe_checkpoints(trainer_class):
    """``trainer_class`` with :class:`SafeCheckpointMixin` mixed in (one subclass per trainer class)."""
    if issubclass(trainer_class, SafeCheckpointMixin) or not issubclass(trainer_class, RecBoleTrainer):
        return trainer_class
    return type(f"Safe{trainer_class.__name__}", (SafeCheckpointMixin, trainer_class), {})


Trainer = with_safe_checkpoints(RecBoleTrainer)
