"""Communication between the processes of a multi-process run: RecBole's DDP keys, on CPU (gloo) as on GPUs (nccl).

RecBole 1.2.1 reads ``nproc``, ``world_size``, ``ip``, ``port`` and ``offset`` but hard-codes the NCCL backend and
passes ``device_ids`` to ``DistributedDataParallel`` even for CPU modules, so it cannot run several processes on a
CPU. Here the backend follows the device. The processes are started by :mod:`recbole_unlearn.launch`.

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


import torch
import torch.distributed as dist

from recbole_unlearn.errors import InputError

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
            raise InputError(f"{key} must be an integer, got {values[key]!r}") from None
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
        raise InputError(f"nproc must be at least 1, got {nproc}")
    if offset < 0 or offset + nproc > world_size:
        raise InputError(
            f"offset {offset} + nproc {nproc} exceeds world_size {world_size}: "
            "ranks run 0..world_size-1 over all machines"
        )
    if not 0 < values["port"] < 65536:
        raise InputError(f"port must be in 1..65535, got {values['port']}")
    gpus = [g for g in str(gpu_id or "").split(",") if g.strip()]
    if torch.device(device).type == "cuda" and len(gpus) < nproc:
        raise InputError(f"nproc={nproc} needs as many GPUs in gpu_id, got '{gpu_id}' ({len(gpus)})")


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
        raise InputError(f"cannot join the process group at {address}: {first_line}") from None


def is_main_process(config) -> bool:
    """True in a single-process run and in global rank 0 of a multi-process one: the process that writes files."""
    return bool(config["single_spec"]) or not dist.is_initialized() or dist.get_rank() == 0


def from_rank0(fn):
    """``fn()`` run by global rank 0 only; its result, or the :class:`InputError` it raised, reaches every rank."""
    box = [None]
    if dist.get_rank() == 0:
        try:
            box[0] = ("ok", fn())
        except InputError as exc:
            box[0] = ("error", str(exc))
    dist.broadcast_object_list(box, src=0)
    kind, value = box[0]
    if kind == "error":
        raise InputError(value)
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
