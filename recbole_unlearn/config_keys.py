"""The config keys that mean something, and the check of the keys a user gives (no silent no-ops).

A key is *known* when one of these defines it:

- RecBole's installed ``recbole/properties``: ``overall.yaml``, ``dataset/*.yaml`` (but the download-URL maps
  ``url.yaml`` and ``kg_url.yaml``, whose keys are dataset names), ``model/*.yaml``, ``quick_start_config/*.yaml``;
- RecBole's ``recbole.utils.argument_list`` lists (general, training, evaluation, dataset arguments);
- this package's ``properties/``: ``overall.yaml``, ``model/*.yaml``, ``dataset/*.yaml`` (the *package keys*: every
  key this package reads is documented there with its default);
- :data:`OUTSIDE_YAML`: the few keys RecBole's ``Config`` takes or sets outside its YAML files.

The set is derived from the installed files once per process (:func:`known_keys`), so it follows RecBole's version
instead of a hand-kept copy of its keys.

:func:`check_keys` looks at the keys the user gave (config files, config dict, command line) that are not known:

- refused (:class:`~recbole_unlearn.errors.InputError`, one line naming the key and the closest known key) when the
  key starts with ``forget_`` or ``unlearn_``, or is close to a package key (``difflib`` ratio >= :data:`CUTOFF`):
  such a key is a typo of an unlearning setting, and keeping it would run as if no deletion was asked;
- otherwise kept, with one warning line through :mod:`logging`: a model class of the user's own project may read keys
  of its own.

:data:`ALIASES` maps other names of a key to the key: ``group_offset`` (the argument of RecBole's ``run(...)``) sets
``offset``; the old name ``unlearn_epochs`` (:data:`DEPRECATED`) sets ``unlearn_passes``, with a warning.
"""

import difflib
import functools
import logging
from pathlib import Path

import recbole
import yaml
from recbole.utils import argument_list

from recbole_unlearn.errors import InputError

# Keys RecBole's Config takes outside its YAML files (recbole/config/configurator.py, recbole/quick_start)
OUTSIDE_YAML = frozenset({
    "model", "dataset",  # Config(model, dataset) or the external config
    "config_files",  # RecBole's command line: --config_files="a.yaml b.yaml"
    "nproc", "world_size", "ip", "port", "offset", "local_rank",  # multi-process runs (Config._init_device, run(...))
    # set by the Config itself: present in a config dict copied from a built config
    "MODEL_TYPE", "MODEL_INPUT_TYPE", "eval_type", "device", "single_spec", "verbose",
    "valid_neg_sample_args", "test_neg_sample_args",
})

# another spelling of a key -> the key; only one of them may be given, or both with the same value
ALIASES = {"group_offset": "offset", "unlearn_epochs": "unlearn_passes"}
# aliases that are old names: accepted with a warning naming the new key
DEPRECATED = frozenset({"unlearn_epochs"})

# Refusing prefixes: every unlearning key starts with one of them, and a key starting with one is never a user's own.
UNLEARNING_PREFIXES = ("forget_", "unlearn_")

# difflib ratio at or above which an unknown key counts as a typo of a known one. Every single-character typo
# (dropped, doubled, swapped or wrong character) of a key of 10 characters or more scores >= 0.9, and a dropped one
# of a key of 6 or more: forget_tpye and epoch 0.91, checkpont 0.95, unlearn_methd 0.96. Names a user's own model
# tends to choose stay below: gnn_layers 0.89 (n_layers), embedding_dim 0.81, batch_size 0.80, mm_weight 0.78.
CUTOFF = 0.9

DOCS = "docs/config-keys.md"


def properties_dir() -> Path:
    """The plug-in's YAML defaults: package data once installed, the top-level ``properties/`` in a source tree."""
    installed = Path(__file__).resolve().parent / "properties"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / "properties"


def yaml_keys(files) -> frozenset:
    """The top-level keys of the YAML ``files``."""
    keys = set()
    for file in files:
        keys.update(str(key) for key in (yaml.safe_load(Path(file).read_text(encoding="utf-8")) or {}))
    return frozenset(keys)


@functools.cache
def recbole_keys() -> frozenset:
    """The keys of RecBole's properties (URL maps excepted) and of its ``argument_list``."""
    root = Path(recbole.__file__).resolve().parent / "properties"
    files = [root / "overall.yaml", *sorted(root.glob("model/*.yaml")), *sorted(root.glob("quick_start_config/*.yaml"))]
    files += [f for f in sorted(root.glob("dataset/*.yaml")) if f.name not in ("url.yaml", "kg_url.yaml")]
    listed = [name for name in dir(argument_list) if name.endswith("_arguments")]
    return yaml_keys(files) | {key for name in listed for key in getattr(argument_list, name)}


@functools.cache
def package_keys() -> frozenset:
    """The keys of this package's properties: ``overall.yaml``, ``model/*.yaml``, ``dataset/*.yaml``."""
    root = properties_dir()
    return yaml_keys([root / "overall.yaml", *sorted(root.glob("model/*.yaml")), *sorted(root.glob("dataset/*.yaml"))])


@functools.cache
def known_keys() -> frozenset:
    """Every key that means something to RecBole or to this package (see the module's docstring)."""
    return recbole_keys() | package_keys() | OUTSIDE_YAML | frozenset(ALIASES)


def _normal(key: str) -> str:
    """``key`` as compared for closeness: case and ``-`` / ``_`` do not count (``--Dry-Run`` is ``dry_run``)."""
    return key.lower().replace("-", "_")


def closest(key: str, keys, cutoff=0.0):
    """The key of ``keys`` most like ``key`` with a ratio of at least ``cutoff``, or ``None``."""
    by_normal = {_normal(k): k for k in sorted(keys)}
    match = difflib.get_close_matches(_normal(key), by_normal, n=1, cutoff=cutoff)
    return by_normal[match[0]] if match else None


def is_refused(key: str) -> bool:
    """An unknown key that is an unlearning key's typo: an unlearning prefix, or close to a package key."""
    return key.startswith(UNLEARNING_PREFIXES) or closest(key, package_keys(), CUTOFF) is not None


def resolve_aliases(given: dict) -> dict:
    """``given`` with every alias (:data:`ALIASES`) renamed to its key; both given with different values is refused."""
    resolved = dict(given)
    for alias, key in ALIASES.items():
        if alias in resolved:
            value = resolved.pop(alias)
            if alias in DEPRECATED:
                logging.getLogger().warning(f"config key {alias!r} is deprecated: use {key!r}")
            if key in resolved and resolved[key] != value:
                raise InputError(f"{alias} {value!r} and {key} {resolved[key]!r} disagree: give one of them")
            resolved[key] = value
    return resolved


def check_keys(given) -> list:
    """Refuse or warn about the unknown keys among ``given`` (the keys the user set); returns those kept, sorted.

    Raises:
        InputError: ``unknown config key 'forget_tpye'; did you mean 'forget_type'? (keys: docs/config-keys.md)``
            for the first refused key (:func:`is_refused`).
    """
    unknown = sorted(key for key in given if key not in known_keys())
    for key in unknown:
        if is_refused(key):
            near = closest(key, known_keys())
            raise InputError(f"unknown config key {key!r}; did you mean {ALIASES.get(near, near)!r}? (keys: {DOCS})")
    for key in unknown:
        near = closest(key, known_keys(), CUTOFF)
        hint = f"did you mean {near!r}?" if near else "not a key of RecBole or recbole_unlearn,"
        logging.getLogger().warning(f"unknown config key {key!r}: {hint} kept for a model of your own (keys: {DOCS})")
    return unknown
