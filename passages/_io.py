"""Writing files so that a reader never sees half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder; return ``path``.

    The bytes go to a hidden temporary file, are flushed to disk, and the file is renamed
    over ``path`` (``os.replace`` is atomic on one file system). A failure at any point
    removes the temporary file and leaves any earlier ``path`` untouched. Missing parent
    folders are created; the file is readable by everyone (mode 0644), as a map or a
    summary meant to be shared should be.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
