"""Multi-process runs through RecBole's own DDP keys, on CPU (gloo) as well as on GPUs (nccl).

RecBole 1.2.1 reads ``nproc``, ``world_size``, ``ip``, ``port`` and ``offset`` but hard-codes the NCCL backend and
passes ``device_ids`` to ``DistributedDataParallel`` even for CPU modules, so it cannot run several processes on a
CPU. Here the backend follows the device, and the launcher is this package's own (``recbole.quick_start`` imports ray).

Keys (any config layer: file, dict or command line):

========== ======================================================================================================
nproc      processes started on this machine (default 1)
world_size processes in the whole run, all machines together (default ``nproc``)
ip, port   where global rank 0 listens (default ``localhost:5678``); the same on every machine
offset     global rank of this machine's first process (0 on the machine that holds rank 0)
========== ======================================================================================================

A process is distributed when its config holds ``local_rank`` (as in RecBole): :meth:`Config._init_device` then calls
:func:`init_process_group`. Global rank ``local_rank + offset``; only global rank 0 writes files
(:func:`is_main_process`).
"""

import logging
import os
import pickle
import socket
import sys
import traceback

import torch
import torch.distributed as dist

from recbole_unlearn.errors import UnlearnError

DEFAULTS = {"nproc": 1, "world_size": None, "ip": "localhost", "port": 5678, "offset": 0}


def backend_for(device) -> str:
    """The process-group backend for ``device``: ``nccl`` on CUDA, ``gloo`` otherwise."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def settings(config) -> dict:
    """``nproc``, ``world_size``, ``ip``, ``port``, ``offset`` from ``config``, with RecBole's defaults
    (``world_size`` missing or <= 0 means ``nproc``)."""
    values = {key: config[key] if config[key] is not None else default for key, default in DEFAULTS.items()}
    if not values["world_size"] or int(values["world_size"]) <= 0:
        values["world_size"] = values["nproc"]
    for key in ("nproc", "world_size", "port", "offset"):
        try:
            values[key] = int(values[key])
        except (TypeError, ValueError):
            raise UnlearnError(f"{key} must be an integer, got {values[key]!r}") from None
    values["ip"] = str(values["ip"])
    return values


def wants_processes(config) -> bool:
    """Whether ``config`` asks for a multi-process run (``nproc > 1`` or ``world_size > 1``)."""
    values = settings(config)
    return values["nproc"] > 1 or values["world_size"] > 1


def check_settings(values, device, gpu_id="") -> None:
    """One clear line for settings that cannot work: ranks out of range, fewer GPUs listed than processes."""
    nproc, world_size, offset = values["nproc"], values["world_size"], values["offset"]
    if nproc < 1:
        raise UnlearnError(f"nproc must be at least 1, got {nproc}")
    if offset < 0 or offset + nproc > world_size:
        raise UnlearnError(
            f"offset {offset} + nproc {nproc} exceeds world_size {world_size}: "
            "ranks run 0..world_size-1 over all machines"
        )
    if not 0 < values["port"] < 65536:
        raise UnlearnError(f"port must be in 1..65535, got {values['port']}")
    gpus = [g for g in str(gpu_id or "").split(",") if g.strip()]
    if torch.device(device).type == "cuda" and len(gpus) < nproc:
        raise UnlearnError(f"nproc={nproc} needs as many GPUs in gpu_id, got '{gpu_id}' ({len(gpus)})")


def check_port_free(ip, port) -> None:
    """Refuse a rendezvous address that global rank 0 could not listen on (port in use, or not this machine's ip)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as torch's store does: TIME_WAIT is no conflict
        try:
            probe.bind((ip, port))
        except OSError as exc:
            message = f"cannot listen on {ip}:{port} for the process group ({exc.strerror}): pass --port=N"
            raise UnlearnError(message) from None


# ---------------------------------------------------------------------------------------------------------------------
def init_process_group(config) -> None:
    """Make ``config`` (which holds ``local_rank``) that of one process of a multi-process run, and join the group.

    Sets ``device`` (``cuda:local_rank`` on GPUs, else the CPU), ``single_spec = False``, the resolved ``world_size``
    and friends; quietens every process but each machine's local rank 0, as RecBole does. Joins the default process
    group (``backend_for(device)``, TCP rendezvous at ``ip:port``) unless this process already has one.
    """
    values = settings(config)
    local_rank = int(config["local_rank"])
    device = config["device"]
    check_settings(values, device, config["gpu_id"])
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    config.final_config_dict.update(values, local_rank=local_rank, device=device, single_spec=False)
    if local_rank != 0:
        config.final_config_dict.update(state="error", show_progress=False, verbose=False)
    if dist.is_initialized():
        return
    address = f"tcp://{values['ip']}:{values['port']}"
    try:
        rank = local_rank + values["offset"]
        dist.init_process_group(backend_for(device), init_method=address, rank=rank, world_size=values["world_size"])
    except (RuntimeError, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnlearnError(f"cannot join the process group at {address}: {first_line}") from None


def is_main_process(config) -> bool:
    """True in a single-process run and in global rank 0 of a multi-process one: the process that writes files."""
    return bool(config["single_spec"]) or not dist.is_initialized() or dist.get_rank() == 0


def from_rank0(fn):
    """``fn()`` run by global rank 0 only; its result, or the :class:`UnlearnError` it raised, reaches every rank."""
    box = [None]
    if dist.get_rank() == 0:
        try:
            box[0] = ("ok", fn())
        except UnlearnError as exc:
            box[0] = ("error", str(exc))
    dist.broadcast_object_list(box, src=0)
    kind, value = box[0]
    if kind == "error":
        raise UnlearnError(value)
    return value


def broadcast_(tensor):
    """Overwrite ``tensor`` in every rank with global rank 0's values (through this rank's GPU under nccl)."""
    on_wire = tensor.cuda() if dist.get_backend() == "nccl" else tensor
    dist.broadcast(on_wire, src=0)
    return tensor.copy_(on_wire)


def broadcast_parameters(model) -> None:
    """Every rank's parameters set to global rank 0's (guards against rank drift after manual gradient steps)."""
    with torch.no_grad():
        for param in model.parameters():
            dist.broadcast(param.data, src=0)


def sum_gradients(parameters, scalars=()) -> list:
    """All-reduce (sum over ranks) the gradients of ``parameters`` and a few ``scalars``, in one collective call.

    A gradient missing in one rank counts as zeros; one missing in every rank stays ``None`` (so an optimizer skips
    it, as it would in a single process). Returns the summed scalars.
    """
    params = [p for p in parameters if p.requires_grad]
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    dtype, device = (grads[0].dtype, grads[0].device) if grads else (torch.float32, torch.device("cpu"))
    flags = [float(p.grad is not None) for p in params]
    extra = torch.tensor(flags + [float(s) for s in scalars], dtype=dtype, device=device)
    flat = torch.cat([g.reshape(-1) for g in grads] + [extra])
    dist.all_reduce(flat)
    start = 0
    for param, grad in zip(params, grads):
        param.grad = flat[start : start + grad.numel()].view_as(param).clone()
        start += grad.numel()
    present, summed = flat[start : start + len(params)], flat[start + len(params) :]
    for param, flag in zip(params, present.tolist()):
        if flag == 0:
            param.grad = None
    return summed.tolist()


def gather_samples(rows, n_samples):
    """Every rank's ``rows`` (one per sample of a ``DistributedSampler(shuffle=False)`` over ``n_samples``) put back
    in sample order, the sampler's padding (repeated first samples) dropped: exactly the rows one process would hold.

    Rows that are not one per sample (other evaluation modes) are concatenated as they come.
    """
    world = dist.get_world_size()
    parts = [None] * world
    dist.all_gather_object(parts, rows)
    per_rank = -(-n_samples // world)
    if all(len(part) == per_rank for part in parts):  # rank r, row j holds sample j * world + r
        return torch.stack(parts, dim=1).reshape(-1, *rows.shape[1:])[:n_samples]
    return torch.cat(parts)


# ---------------------------------------------------------------------------------------------------------------------
def launch(config, model=None, dataset=None, config_file_list=None, config_dict=None, argv=None, entry=None):
    """Start this machine's ``nproc`` processes (``torch.multiprocessing.spawn``) and wait for them.

    Each runs ``entry(model=..., dataset=..., config_file_list=..., config_dict=..., argv=...)``
    (default :func:`recbole_unlearn.quick_start.run`) with the resolved keys and its ``local_rank`` added to
    ``config_dict``. ``config`` is the run's config as read in this (launching) process, for the keys only.

    Returns global rank 0's result without its ``config``, ``model`` and ``trainer`` (``None`` on a machine that
    does not hold rank 0). An :class:`UnlearnError` in any process is raised here with the same line.
    """
    import torch.multiprocessing as mp

    values = settings(config)
    check_settings(values, config["device"], config["gpu_id"])
    if values["offset"] == 0:
        check_port_free(values["ip"], values["port"])
    threads = None
    if config["device"].type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        threads = max(1, (os.cpu_count() or 1) // values["nproc"])  # no oversubscription of the machine's cores
    kwargs = {
        "model": model,
        "dataset": dataset,
        "config_file_list": config_file_list,
        "config_dict": {**(config_dict or {}), **values},
        "argv": list(argv or []),
    }
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
            raise UnlearnError(errors[0]) from None
        raise
    _drain(queue, outcomes)
    return next((pickle.loads(value) for kind, value in outcomes if kind == "ok"), None)


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
        if entry is None:
            from recbole_unlearn.quick_start import run as entry
        kwargs = {**kwargs, "config_dict": {**kwargs["config_dict"], "local_rank": local_rank}}
        result = entry(**kwargs)
        if local_rank + kwargs["config_dict"]["offset"] == 0:
            if isinstance(result, dict):
                result = {k: v for k, v in result.items() if k not in ("config", "model", "trainer")}
            queue.put(("ok", pickle.dumps(result)))  # plain bytes: no tensor shared with a process about to exit
        if dist.is_initialized():
            dist.barrier()
        code = 0
    except UnlearnError as exc:
        queue.put(("error", str(exc)))
    except BaseException:
        traceback.print_exc()
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
