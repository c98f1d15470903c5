"""Files the package writes and checks: atomic writes, content hashes, and names that are not taken yet.

An atomic write goes to a temporary file in the target's folder, is flushed to disk, then renamed into place: a crash
or an exception mid-write leaves the previous file (or none), never half a file.
"""

import hashlib
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
