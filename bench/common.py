"""What the benchmarks share: where their files lie, the config dict they run under, the cache of originals and golds,
the one call of an unlearning method, synthetic power-law data, memory readings and atomic writes.

Every benchmark runs from the repository root as ``python -m bench.<name>``.
"""

import argparse
import hashlib
import itertools
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recbole_unlearn.atomic import atomic_write
from recbole_unlearn.checkpoint import load_checkpoint, restore_model, save_checkpoint
from recbole_unlearn.config import config_with
from recbole_unlearn.data import built_datasets, create_dataset, dataloaders
from recbole_unlearn.data.request import request_from_config
from recbole_unlearn.data.split import split_datasets
from recbole_unlearn.model.serving import serve
from recbole_unlearn.quick_start import load_config, load_data
from recbole_unlearn.registry import build_model, build_trainer
from recbole_unlearn.unlearn.context import UnlearnContext
from recbole_unlearn.unlearn.methods import get_method, method_names

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "cache"
RESULTS = ROOT / "bench" / "results"
SYNTHETIC = CACHE / "scale"
DATA_PATH = str(ROOT.parent / "shared" / "data")
EMBEDDED = "ml-100k"  # ships inside the recbole package (its text features inside this one): no data folder needed
#: share of the training data each request type forgets in the benchmarks' draws
REQUEST_RATIOS = {"user": 0.05, "interaction": 0.05, "item": 0.01, "modality": 0.05}

#: config keys that do not change what training learns (where files go, devices, logging); the request's and the
#: audit's keys (``forget_*``, ``unlearn_*``, ``audit_*``) are left out by prefix
UNTRAINED_KEYS = {"checkpoint_dir", "data_path", "device", "gpu_id", "show_progress", "state", "report_file",
                  "checkpoint", "dry_run", "nproc", "world_size", "local_rank", "offset", "ip", "port"}
REQUEST_PREFIXES = ("forget_", "unlearn_", "audit_")


# ---- command line and config ----------------------------------------------------------------------------------------
def argument_parser(module, doc) -> argparse.ArgumentParser:
    """The command line of the benchmark ``module`` (its ``__spec__.name``): usage ``python -m <module>``, described
    by the first line of ``doc``."""
    return argparse.ArgumentParser(prog=f"python -m {module}", description=doc.splitlines()[0])


def quiet_config(checkpoint_dir, **settings) -> dict:
    """A config dict for a benchmark run: no progress bars, RecBole's log at ERROR, checkpoints under
    ``checkpoint_dir``, then ``settings``."""
    return {"show_progress": False, "state": "ERROR", "checkpoint_dir": str(checkpoint_dir), **settings}


def cached_config(epochs) -> dict:
    """The config dict of the cached originals and golds (scratch checkpoints under ``bench/cache/tmp``, training
    capped at ``epochs``); :func:`original_key` reads it."""
    return quiet_config(CACHE / "tmp", epochs=epochs)


def add_run_arguments(parser, epochs=True, overrides=False):
    """``--data_path``, ``--epochs`` (unless ``epochs`` is false) and ``--threads``, as every benchmark reads them;
    with ``overrides``, also ``--set KEY=VALUE ...`` (config overrides, JSON values; :func:`parse_overrides`) and
    ``--tag``."""
    parser.add_argument("--data_path", default=DATA_PATH, help=f"folder of the dataset folders (default {DATA_PATH}; "
                        f"{EMBEDDED} needs none)")
    if epochs:
        parser.add_argument("--epochs", type=int, default=300, help="training epochs cap for original and gold")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    if overrides:
        parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                            help="config overrides (e.g. unlearn_refresh_every=3), JSON values")
        parser.add_argument("--tag", default="", help="appended to the results' file names")


def add_model_arguments(parser, dataset):
    """``--dataset`` (default ``dataset``) and ``--model`` (default LightGCN)."""
    parser.add_argument("--dataset", default=dataset)
    parser.add_argument("--model", default="LightGCN")


def parse_overrides(items) -> dict:
    """``{key: value}`` of ``KEY=VALUE`` strings, each value read as JSON."""
    return {key: json.loads(value) for key, value in (item.split("=", 1) for item in items)}


def data_path_for(dataset, data_path) -> dict:
    """``{"data_path": data_path}``, or nothing for :data:`EMBEDDED` (RecBole reads its own copy of it)."""
    return {} if dataset == EMBEDDED else {"data_path": str(data_path)}


def dataset_available(name, data_path) -> bool:
    """Whether ``name`` can be loaded: the embedded ml-100k always, any other dataset when its folder is in
    ``data_path``."""
    return name == EMBEDDED or (Path(data_path) / name).is_dir()


# ---- the cache of originals and golds -------------------------------------------------------------------------------
def key_of(*parts) -> str:
    """A short stable hash of ``parts`` (JSON, keys sorted)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def original_key(model_name, dataset, base, config) -> str:
    """Cache key of an original (and, with the request's hash, of its golds): the model, the dataset, the benchmark's
    own settings and every resolved config value that shapes training, the model's and the dataset's YAML included, so
    an edited default never reuses a checkpoint trained under the old one."""
    training = {key: value for key, value in config.final_config_dict.items()
                if key not in UNTRAINED_KEYS and not key.startswith(REQUEST_PREFIXES)}
    settings = {key: value for key, value in base.items() if key not in UNTRAINED_KEYS}  # not where the clone lies
    return key_of(model_name, dataset, settings, training)


def cached_model(path: Path, config, dataset, build, train):
    """A model from ``path`` if cached, else ``train(build())`` and cache it; returns ``(model, seconds)``."""
    model = build()
    if path.exists():
        state = load_checkpoint(str(path))
        restore_model(model, state)
        return model, state["train_time_s"]
    start = time.perf_counter()
    model = train(model)
    seconds = time.perf_counter() - start
    save_checkpoint(str(path), model, config, dataset, train_time_s=seconds)
    return model, seconds


def original_path(key) -> Path:
    """Where the original of cache key ``key`` (:func:`original_key`) lies."""
    return CACHE / f"original-{key}.pth"


def cached_original(key, config, train, fit):
    """``(original, training seconds)`` of cache key ``key`` (:func:`original_key`): read from ``bench/cache``, or
    built on the ``train`` dataset, trained by ``fit(model)`` and cached."""
    return cached_model(original_path(key), config, train, lambda: build_model(config, train), fit)


def cached_gold(key, config, train, split, fit=None):
    """``(gold, training seconds)`` of the original ``key`` for ``split``'s request: read from ``bench/cache``, or
    retrained from scratch on the retain set (by ``fit(model)`` if given) and cached."""
    fit = fit or (lambda fresh: run_method(fresh, split, config, "retrain")[0])
    return cached_model(CACHE / f"gold-{key_of(key, split.request.sha256())}.pth", config, train,
                        lambda: config.model_class(config, split.retain_train).to(config["device"]), fit)


def trained_to_stop(config, loaders, model, name):
    """``model`` trained on ``loaders`` to early stopping, its best epoch loaded back (a scratch file ``name``)."""
    trainer = build_trainer(config, model)
    trainer.saved_model_file = str(CACHE / f".{name}-best.pth")
    trainer.fit(loaders[0], loaders[1], saved=True, show_progress=False)
    trainer.load_checkpoint_file(trainer.saved_model_file, dataset=loaders[0]._dataset)
    os.unlink(trainer.saved_model_file)
    return model


@dataclass(frozen=True)
class Draw:
    """One request draw: dataset x model x request type x forget draw (``forget_seed`` 2020 + draw), the request
    forgetting :data:`REQUEST_RATIOS` of its type (modality requests: the text rows)."""

    dataset: str
    model: str
    kind: str
    draw: int

    def config_dict(self, base, data_path) -> dict:
        """``base`` with the data folder and this draw's request."""
        cfg = {**base, **data_path_for(self.dataset, data_path), "forget_type": self.kind,
               "forget_ratio": REQUEST_RATIOS[self.kind], "forget_seed": 2020 + self.draw}
        if self.kind == "modality":
            cfg["forget_modality"] = "text"
        return cfg


@dataclass
class CachedDraw:
    """A draw's config (overrides applied), its forget / retain split, and its original and gold with their training
    seconds."""

    config: object
    split: object
    original: object
    original_s: float
    gold: object
    gold_s: float


def not_cached(_model):
    sys.exit("not in bench/cache: run `python -m bench.bench_unlearning` for this draw first")


def cached_draw(draw: Draw, base, data_path, overrides=None, train=True) -> CachedDraw:
    """``draw`` loaded under ``base`` (:func:`cached_config`) with ``overrides``, its original and gold read from
    ``bench/cache``; where one is missing, trained and cached (``train``) or the process exits with a line."""
    config, loaders = load_data(draw.model, draw.dataset, config_dict=draw.config_dict(base, data_path), argv=[])
    config = UnlearnContext.for_request(config, draw.kind).config  # the type's recipe, as a run merges it
    if overrides:
        config = config_with(config, **overrides)
    full_train = loaders[0]._dataset
    key = original_key(draw.model, draw.dataset, base, config)
    fit = (lambda model: trained_to_stop(config, loaders, model, key)) if train else not_cached
    original, original_s = cached_original(key, config, full_train, fit)
    split = split_datasets(request_from_config(config, full_train), full_train, loaders[1]._dataset,
                           loaders[2]._dataset)
    gold, gold_s = cached_gold(key, config, full_train, split, None if train else not_cached)
    return CachedDraw(config, split, original, original_s, gold, gold_s)


# ---- unlearning and serving -----------------------------------------------------------------------------------------
def run_method(model, split, config, name=None):
    """``(model, outcome)`` of the unlearning method ``name`` (default: the config's first ``unlearn_method`` once the
    request type's recipe is merged; ``retrain``: gold) from ``model``: every benchmark calls a method through
    here, with the context a run builds (:meth:`~recbole_unlearn.unlearn.context.UnlearnContext.for_request`)."""
    context = UnlearnContext.for_request(config, split.request.type)
    return get_method(name or method_names(context.config)[0])(model, split, context)


def served(model, split):
    """``model`` with the serving filter of the items ``split`` revokes installed (in place): every benchmark audits
    its models as served."""
    return serve(model, split.blocked_items)


# ---- synthetic power-law data and originals trained on a few batches ------------------------------------------------
def power_law_interactions(n, seed=0):
    """About ``n`` distinct (user, item) pairs with Amazon Baby's degree distribution (5-core): user degrees Pareto
    with minimum 5 and shape 2.5, item popularity Zipf-like with exponent 0.75, 8.3 interactions per user and 22.8
    per item, duplicates dropped."""
    rng = np.random.default_rng(seed)
    n_users, n_items = max(int(n / 8.3), 10), max(int(n / 22.8), 10)
    degrees = np.minimum(np.floor(5 * rng.random(n_users) ** (-1 / 2.5)), n_items // 2).astype(np.int64)
    degrees = np.maximum(np.round(degrees * n / degrees.sum()).astype(np.int64), 5)
    popularity = rng.permutation(np.arange(1, n_items + 1) ** -0.75)
    popularity /= popularity.sum()
    users = np.repeat(np.arange(n_users), degrees)
    items = rng.choice(n_items, size=len(users), p=popularity)
    pairs = np.unique(users * n_items + items)
    return pairs // n_items, pairs % n_items


def synthetic_dataset(n) -> str:
    """Name of the synthetic dataset of about ``n`` interactions, written once under ``bench/cache/scale``."""
    name = f"synthetic-{n:.0e}".replace("+0", "").replace("+", "")
    path = SYNTHETIC / name / f"{name}.inter"
    if not path.exists():
        users, items = power_law_interactions(int(n))

        def write(f):
            f.write("user_id:token\titem_id:token\n")
            np.savetxt(f, np.stack([users, items], axis=1), fmt="%d", delimiter="\t")

        atomic_write(str(path), write)
    return name


def train_batches(config, model, loader, max_batches=None):
    """Train ``model`` for one epoch of ``loader``, or its first ``max_batches`` batches; returns the seconds an
    epoch takes (scaled from the batches run) and whether it was scaled."""
    trainer = build_trainer(config, model)
    batches = len(loader)
    timed = batches if max_batches is None else min(batches, max_batches)
    start = time.perf_counter()
    trainer._train_epoch(loader if timed == batches else itertools.islice(loader, timed), 0, show_progress=False)
    return (time.perf_counter() - start) * batches / timed, timed < batches


@dataclass
class DataSpec:
    """The data and model of an original: a real dataset (``name``, its folder in ``data_path``) or a synthetic one
    (``synthetic-<n>``, trained on ``synthetic_batches`` batches only), and config keys beside the base (``extra``:
    a request's)."""

    name: str
    data_path: str
    synthetic_batches: int = 20
    model: str = "LightGCN"
    extra: dict = field(default_factory=dict)

    @property
    def synthetic(self) -> bool:
        return self.name.startswith("synthetic")


def load_with_original(spec: DataSpec, base, memory=None):
    """``(config, [train, valid, test] datasets, original)`` for ``spec``: the original is read from ``bench/cache``
    or trained (real: to early stopping; synthetic: ``spec.synthetic_batches`` batches), RecBole's dataloaders built
    for that training only, as a request needs none. A dict ``memory`` gets the resident GiB after RecBole's dataset
    is built (``dataset_gib``) and whether the original was trained in this process (``original_trained``: its
    dataloaders' memory may stay resident)."""
    if spec.synthetic:
        synthetic_dataset(float(spec.name.split("-", 1)[1]))  # written once
    cfg = {**base, **spec.extra, **data_path_for(spec.name, SYNTHETIC if spec.synthetic else spec.data_path)}
    config = load_config(spec.model, spec.name, config_dict=cfg, argv=[])
    if config["forget_type"]:  # the type's recipe, as a run merges it
        config = UnlearnContext.for_request(config, config["forget_type"]).config
    datasets = built_datasets(config, create_dataset(config))
    if memory is not None:
        memory.update(dataset_gib=resident_gib(), original_trained=False)

    def fit(model):
        if memory is not None:
            memory["original_trained"] = True
        loaders = dataloaders(config, datasets)
        if spec.synthetic:
            train_batches(config, model, loaders[0], spec.synthetic_batches)
            return model
        return trained_to_stop(config, loaders, model, f"scale-{spec.name}")

    # the same key as bench.bench_unlearning's originals of the real datasets, so those are reused
    settings = {**base, "batches": spec.synthetic_batches} if spec.synthetic else base
    original, _ = cached_original(original_key(spec.model, spec.name, settings, config), config, datasets[0], fit)
    return config, datasets, original


# ---- memory and files -----------------------------------------------------------------------------------------------
def resident_gib(field_name="VmRSS") -> float:
    """This process's resident memory in GiB (Linux ``/proc/self/status``): ``VmRSS`` now, or ``VmHWM`` its peak
    since it started or since :func:`reset_peak_rss`."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field_name))
    return int(line.split()[1]) / 2**20


def reset_peak_rss():
    """Reset the process's peak resident set size, ``VmHWM`` (Linux: ``/proc/self/clear_refs``)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def write_text(path, text):
    """``text`` written to ``path`` atomically."""
    atomic_write(str(path), lambda f: f.write(text))


def pyplot():
    """matplotlib's pyplot on the Agg backend (figures go to files only)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path):
    """``fig`` written to ``path`` as PNG, atomically, then closed."""
    atomic_write(str(path), lambda f: fig.savefig(f, format="png"), mode="wb")
    pyplot().close(fig)
