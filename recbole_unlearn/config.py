"""RecBole's ``Config``, extended with the plug-in's own defaults and model look-up.

Layering, lowest priority first::

    RecBole properties/ (overall, model, dataset)  ->  recbole_unlearn properties/ (overall, model, dataset)
    ->  config files  ->  config dict  ->  command line

Model names resolve in this package first and in RecBole second (:func:`recbole_unlearn.registry.get_model`).
The keys the user gives are checked against those RecBole and this package know (:mod:`recbole_unlearn.config_keys`):
a typo of an unlearning key is refused, any other unknown key is kept with a warning; ``group_offset`` sets ``offset``.
A config holding ``local_rank`` is one process of a multi-process run: gloo on CPU, nccl on GPUs
(:mod:`recbole_unlearn.distributed`). A ``data_path`` the user gives is read for ``ml-100k`` too (RecBole points that
name at its own copy whatever ``data_path`` says).
"""

import copy
import os
import sys

import yaml
from recbole.config import Config as RecBoleConfig

from recbole_unlearn.compat import restore_numpy_aliases
from recbole_unlearn.config_keys import check_keys, properties_dir, resolve_aliases
from recbole_unlearn.data.readers import read_text
from recbole_unlearn.data.request import check_forget_ratio
from recbole_unlearn.distributed import init_process_group
from recbole_unlearn.errors import InputError
from recbole_unlearn.registry import get_model


class Config(RecBoleConfig):
    """RecBole's ``Config`` with this package's defaults layered over RecBole's and its models looked up first.

    Args:
        model: model name or class (a class from the user's own project works as in RecBole).
        dataset: dataset name.
        config_file_list: YAML files, later ones win.
        config_dict: values that override the files.
        argv: ``--key=value`` arguments to parse as the command line; ``None`` reads ``sys.argv`` as RecBole does,
            pass ``[]`` to ignore the process's command line (tests, notebooks, library use).

    Raises:
        InputError: a given key that is a typo of an unlearning key (:func:`recbole_unlearn.config_keys.check_keys`),
            a config file that is missing or does not parse (:func:`read_config_file`), a ``data_path`` without the
            dataset's folder for ``ml-100k``, a ``forget_ratio`` that is no share strictly between 0 and 1, and
            RecBole's own checks of key combinations, as one line.
    """

    def __init__(self, model=None, dataset=None, config_file_list=None, config_dict=None, argv=None):
        self._argv = sys.argv[1:] if argv is None else list(argv)
        self._explicit_argv = argv is not None
        try:
            super().__init__(model, dataset, config_file_list, config_dict)
        except InputError:
            raise
        except ValueError as exc:  # RecBole's own checks of key combinations
            raise InputError(f"config: {str(exc).strip().splitlines()[0]}") from None
        check_keys(self.external_config_dict)
        if self.final_config_dict.get("forget_ratio") is not None:
            check_forget_ratio(self.final_config_dict["forget_ratio"])

    def compatibility_settings(self):
        restore_numpy_aliases()

    def _init_device(self):
        """RecBole's device choice; with ``local_rank`` set, join the process group with the backend that fits the
        device (RecBole's own always asks for nccl, so it cannot run several processes on a CPU)."""
        local_rank = self.final_config_dict.pop("local_rank", None)
        super()._init_device()  # gpu_id, CUDA_VISIBLE_DEVICES, the single-process device
        if local_rank is not None:
            self.final_config_dict["local_rank"] = local_rank
            init_process_group(self)

    def _load_config_files(self, file_list):
        """RecBole's reading of ``config_file_list`` (each file's keys over the earlier ones'), each file read by
        :func:`read_config_file`."""
        values = {}
        for file in file_list or []:
            values.update(read_config_file(file, self.yaml_loader))
        return values

    def _set_default_parameters(self):
        """RecBole's defaults, with a ``data_path`` the user gives honoured for ``ml-100k`` too: RecBole always reads
        that name from its own copy (``recbole/dataset_example/ml-100k``); given a ``data_path``, the data is
        ``<data_path>/ml-100k``, as for any other name, and a ``data_path`` without that folder is refused."""
        super()._set_default_parameters()
        given = self.external_config_dict.get("data_path")
        if self.dataset == "ml-100k" and given is not None:
            folder = os.path.join(given, self.dataset)
            if not os.path.isdir(folder):
                raise InputError(
                    f"data_path {given}: no {self.dataset} folder in it (leave data_path unset to read the copy of "
                    f"{self.dataset} inside RecBole)"
                )
            self.final_config_dict["data_path"] = folder

    def _merge_external_config_dict(self):
        """RecBole's merge of files, dict and command line, with aliases renamed (``group_offset`` -> ``offset``)."""
        super()._merge_external_config_dict()
        self.external_config_dict = resolve_aliases(self.external_config_dict)

    def _load_cmd_line(self):
        """The command line's keys: ``argv`` given explicitly (this package's command line, library calls) is read
        by :func:`command_line_dict`; ``argv=None`` reads ``sys.argv`` as RecBole does (other arguments there belong
        to whatever program runs, and only get RecBole's warning)."""
        if self._explicit_argv:
            return self._convert_config_dict(command_line_dict(self._argv))
        saved_argv = sys.argv
        sys.argv = [saved_argv[0] if saved_argv else "recbole_unlearn", *self._argv]
        try:
            return super()._load_cmd_line()
        finally:
            sys.argv = saved_argv

    def _get_model_and_dataset(self, model, dataset):
        if model is None:
            model = self.external_config_dict.get("model")
            if model is None:
                raise InputError("no model given: pass --model=NAME, or set `model` in a config file")
        if dataset is None:
            dataset = self.external_config_dict.get("dataset", "ml-100k")
        model_class = get_model(model) if isinstance(model, str) else model
        return model_class.__name__ if not isinstance(model, str) else model, model_class, dataset

    def _load_internal_config_dict(self, model, model_class, dataset):
        super()._load_internal_config_dict(model, model_class, dataset)
        root = properties_dir()
        for file in (root / "overall.yaml", root / "model" / f"{model}.yaml", root / "dataset" / f"{dataset}.yaml"):
            if file.is_file():
                layered = self._update_internal_config_dict(str(file))
                if file.parent.name == "dataset" and layered:
                    self.parameters["Dataset"] += [k for k in layered if k not in self.parameters["Dataset"]]


def read_config_file(path, loader) -> dict:
    """The ``key: value`` pairs of a YAML config file, read with RecBole's YAML ``loader``; an empty file sets nothing.

    Raises:
        InputError: a missing or unreadable file, text that is not UTF-8, YAML that does not parse (the line and
            column of the fault named) and YAML that is no mapping; each line begins ``config file PATH``.
    """
    source = f"config file {path}"
    try:
        values = yaml.load(read_text(path, source=source), Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise InputError(f"{source}: not valid YAML{where}: {problem}") from None
    if values is not None and not isinstance(values, dict):
        raise InputError(f"{source}: holds a YAML {type(values).__name__}, not key: value lines")
    return values or {}


def command_line_dict(args) -> dict:
    """``--key=value`` arguments as ``{key: value}`` strings (a value may hold ``=``); anything else, or a key given
    twice with different values, is refused in one line."""
    given = {}
    for arg in args:
        key, sep, value = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        if not key or not sep:
            raise InputError(f"argument {arg!r}: expected --key=value")
        if given.get(key, value) != value:
            raise InputError(f"argument --{key} given twice with different values: {given[key]} and {value}")
        given[key] = value
    return given


def config_with(config, **overrides):
    """A shallow copy of a config with some values replaced; the original is unchanged. The replaced keys count as
    set by the caller, so a request's recipe (:func:`with_request_defaults`) does not replace them."""
    new = copy.copy(config)
    new.final_config_dict = {**config.final_config_dict, **overrides}
    new.external_config_dict = {**config.external_config_dict, **overrides}
    return new


def request_defaults(config, kind) -> dict:
    """The recipe ``unlearn_defaults[kind]`` (from properties/) for every key the user did not set.

    So ``--forget_type=interaction --forget_ratio=0.05`` alone gets the recipe for interaction requests, and any key
    given explicitly (file, dict, command line, or :func:`config_with`) still wins.
    """
    recipe = (config["unlearn_defaults"] or {}).get(kind) or {}
    return {key: value for key, value in recipe.items() if key not in config.external_config_dict}


def with_request_defaults(config, kind):
    """A copy of ``config`` for a ``kind`` request, its :func:`request_defaults` merged in; the one place a recipe is
    merged (:meth:`recbole_unlearn.unlearn.context.UnlearnContext.for_request`)."""
    new = config_with(config, forget_type=kind)
    new.final_config_dict.update(request_defaults(new, kind))
    return new
