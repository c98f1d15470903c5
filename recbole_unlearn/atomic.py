"""Atomic file writes: a temporary file in the target's folder, flushed to disk, then renamed into place.

A crash or an exception mid-write leaves the previous file (or none) and no temporary file behind, never half a file.
"""

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
