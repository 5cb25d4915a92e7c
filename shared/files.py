"""Writing secret files safely: owner-only permissions, complete or absent, never half-written."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path


def write_private(path: Path, data: bytes, *, exclusive: bool = False) -> bool:
    """Write `data` to `path` (mode 0600) through a synced temporary file.

    `exclusive=True` creates the file only if it does not exist yet (a hard link is atomic), so processes
    starting together agree on one key; otherwise the file is replaced atomically. Returns whether it was written.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # a secret's folder is owner-only too
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        if not exclusive:
            os.replace(tmp, path)
            return True
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
            return True
        return False
    finally:
        tmp.unlink(missing_ok=True)
