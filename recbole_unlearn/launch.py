"""Starting the processes of a multi-process run on this machine (``nproc``), and collecting rank 0's result.

RecBole's own launcher lives in ``recbole.quick_start``, which imports ray; this one uses
``torch.multiprocessing.spawn``. Every process runs :func:`recbole_unlearn.quick_start.run` (or another entry) with
its ``local_rank``; :mod:`recbole_unlearn.distributed` does the rest.
"""

import dataclasses
import logging
import os
import pickle
import socket
import sys
import traceback
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from recbole_unlearn.distributed import check_settings, settings
from recbole_unlearn.errors import InputError
from recbole_unlearn.quick_start import run


def check_port_free(ip, port) -> None:
    """Refuse a rendezvous address that global rank 0 could not listen on (port in use, or not this machine's ip)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as torch's store does: TIME_WAIT is no conflict
        try:
            probe.bind((ip, port))
        except OSError as exc:
            message = f"cannot listen on {ip}:{port} for the process group ({exc.strerror}): pass --port=N"
            raise InputError(message) from None


@dataclass(frozen=True)
class RunArguments:
    """The arguments every process of a run passes to its entry, as :func:`recbole_unlearn.quick_start.run` takes
    them: ``entry(model=..., dataset=..., config_file_list=..., config_dict=..., argv=...)``."""

    model: str = None
    dataset: str = None
    config_file_list: list = None
    config_dict: dict = None
    argv: list = None

    def entry_kwargs(self, keys) -> dict:
        """The keyword arguments of the entry, with ``keys`` added to ``config_dict``."""
        return {
            "model": self.model,
            "dataset": self.dataset,
            "config_file_list": self.config_file_list,
            "config_dict": {**(self.config_dict or {}), **keys},
            "argv": list(self.argv or []),
        }


def launch(config, arguments=RunArguments(), entry=None):
    """Start this machine's ``nproc`` processes (``torch.multiprocessing.spawn``) and wait for them.

    Each runs ``entry`` (default :func:`recbole_unlearn.quick_start.run`) with the :class:`RunArguments`
    ``arguments``, the resolved keys and its ``local_rank`` added to their ``config_dict``. ``config`` is the run's
    config as read in this (launching) process, for the keys only.

    Returns global rank 0's result without its ``config``, ``model`` and ``trainer`` (``None`` on a machine that
    does not hold rank 0). An :class:`InputError` in any process is raised here with the same line.
    """
    values = settings(config)
    check_settings(values, config["device"], config["gpu_id"])
    if values["offset"] == 0:
        check_port_free(values["ip"], values["port"])
    threads = None
    if config["device"].type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        threads = max(1, (os.cpu_count() or 1) // values["nproc"])  # no oversubscription of the machine's cores
    kwargs = arguments.entry_kwargs(values)
    for folder in (os.path.join("log", config["model"]), config["checkpoint_dir"]):
        os.makedirs(folder, exist_ok=True)  # RecBole's exists-then-makedirs races when every rank creates them
    queue = mp.get_context("spawn").SimpleQueue()
    context = mp.spawn(_worker, args=(entry, kwargs, queue, threads), nprocs=values["nproc"], join=False)
    outcomes = []
    try:
        while not context.join(timeout=0.5):
            _drain(queue, outcomes)
    except (mp.ProcessRaisedException, mp.ProcessExitedException):
        _drain(queue, outcomes)
        errors = [value for kind, value in outcomes if kind == "error"]
        if errors:
            raise InputError(errors[0]) from None
        raise
    _drain(queue, outcomes)
    return next((pickle.loads(value) for kind, value in outcomes if kind == "ok"), None)


def without_objects(result):
    """A run's result (:class:`~recbole_unlearn.quick_start.TrainedRun` or
    :class:`~recbole_unlearn.quick_start.UnlearningRun`) with its config, model and trainer set to ``None``: what
    crosses back to the launching process holds plain values only."""
    if not dataclasses.is_dataclass(result):
        return result
    names = {f.name for f in dataclasses.fields(result)} & {"config", "model", "trainer"}
    return dataclasses.replace(result, **dict.fromkeys(names))


def _drain(queue, outcomes):
    while not queue.empty():
        outcomes.append(queue.get())


def _worker(local_rank, entry, kwargs, queue, threads):
    """One process: run ``entry`` with ``local_rank`` set; rank 0 sends its result home, any rank its one-line error.

    The process ends with ``os._exit`` once every rank is done (a barrier), without tearing the interpreter down:
    destroying a gloo process group (explicitly or at exit) can deadlock when a gloo thread is still releasing a
    Python-owned tensor and needs the GIL that the destructor holds (seen with torch 2.13). Logs are flushed first.
    """
    code = 1
    try:
        if threads:
            torch.set_num_threads(threads)
        entry = entry or run
        kwargs = {**kwargs, "config_dict": {**kwargs["config_dict"], "local_rank": local_rank}}
        result = entry(**kwargs)
        if local_rank + kwargs["config_dict"]["offset"] == 0:
            result = without_objects(result)
            queue.put(("ok", pickle.dumps(result)))  # plain bytes: no tensor shared with a process about to exit
        if dist.is_initialized():
            dist.barrier()
        code = 0
    except InputError as exc:
        queue.put(("error", str(exc)))
    except BaseException:
        traceback.print_exc()
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
