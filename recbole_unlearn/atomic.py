"""Files the package writes and checks: atomic writes, content hashes, and names that are not taken yet.

An atomic write goes to a temporary file in the target's folder, is flushed to disk, then renamed into place: a crash
or an exception mid-write leaves the previous file (or none), never half a file. JSON files (reports, manifests) are
written by :func:`write_json`: strict JSON (RFC 8259), with ``null`` where a value is NaN or infinite.
"""

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path


def atomic_write(path, write, mode="w"):
    """Call ``write(file)`` on a temporary file beside ``path`` (opened with ``mode``), then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def json_safe(value):
    """``value`` as plain JSON values: every float NaN or infinity (Python, numpy, a 0-d tensor) ``None``, numpy and
    tensor values Python numbers and lists, tuples lists; anything else JSON cannot hold (a path) its ``str()``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):  # numpy's float64 too
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key if isinstance(key, (str, int, float)) else str(json_safe(key)): json_safe(item)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays, tensors of any shape
        return json_safe(value.tolist())
    return str(value)


def write_json(path, obj, indent=2):
    """Write ``obj`` to ``path`` atomically (:func:`atomic_write`) as strict JSON: :func:`json_safe` first, then
    ``json.dump(..., allow_nan=False)``, so no bare ``NaN`` or ``Infinity`` (not JSON) is ever written."""
    safe = json_safe(obj)
    atomic_write(path, lambda f: json.dump(safe, f, indent=indent, allow_nan=False))


def file_sha256(path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def unused_path(path) -> str:
    """``path``, or ``<stem>-2<suffix>``, ``-3``, ... if taken (time stamps in file names have a one-second
    resolution)."""
    candidate, n = Path(path), 1
    while candidate.exists():
        n += 1
        candidate = Path(path).with_stem(f"{Path(path).stem}-{n}")
    return str(candidate)
