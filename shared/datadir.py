"""The data directory's layout and permissions: owner-only folders (0700) and files (0600), databases apart from
the keys.

    <data dir>/db/<service>.db     SQLite databases (with their -wal and -shm files): what a database backup takes
    <data dir>/keys/               signing keys, the tips identity keys, credentials: never in a database backup
    <data dir>/logs/, nats/, attachments/

Databases used to sit in the data dir's root, so a copy of "the folder with the databases" carried the keys that
decrypt reporters' identities; `prepare_data_dir` moves such files into db/ when a process starts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.engine import make_url

from shared.settings import Settings

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
UMASK = 0o077  # what this process creates from now on (databases, SQLite's -wal/-shm, logs, keys) is owner-only
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def prepare_data_dir(settings: Settings, services: Iterable[str]) -> None:
    """Before anything opens a file: set the umask, move databases left in the root into db/, and make what
    exists owner-only. `antq up` runs it for every service before starting them; `antq serve` and `antq migrate`
    for their own."""
    os.umask(UMASK)
    root = settings.data_dir
    root.mkdir(parents=True, exist_ok=True)
    for service in services:
        _move_legacy_database(settings, service)
    restrict(root)


def restrict(root: Path) -> None:
    """Owner-only modes on `root` and everything under it (symbolic links are left alone)."""
    _chmod(root, DIR_MODE)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            _chmod(Path(folder, name), DIR_MODE)
        for name in files:
            _chmod(Path(folder, name), FILE_MODE)


def _chmod(path: Path, mode: int) -> None:
    try:
        if not path.is_symlink() and (path.stat().st_mode & 0o777) != mode:
            path.chmod(mode)
    except FileNotFoundError:  # a temporary file that went away meanwhile (e.g. a rotating log, a NATS block)
        pass
    except OSError as exc:  # a read-only mount or another owner's file (e.g. a Kubernetes secret): not ours to fix
        log.warning("cannot make %s owner-only: %s", path, exc.strerror or exc)


def _move_legacy_database(settings: Settings, service: str) -> None:
    url = make_url(settings.database_url_for(service))
    if url.get_backend_name() != "sqlite" or not url.database:
        return
    target = Path(url.database)
    legacy = settings.data_dir.resolve() / f"{service}.db"
    if target.resolve() != settings.default_database_path(service).resolve() or not legacy.exists():
        return
    if target.exists():
        log.warning("both %s and %s exist; using %s and leaving the old file for the operator", legacy, target,
                    target)
        return
    target.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    for suffix in SQLITE_SUFFIXES:  # the -wal file may hold committed transactions: it moves with the database
        old = legacy.with_name(legacy.name + suffix)
        if old.exists():
            old.rename(target.with_name(target.name + suffix))
    log.warning("moved the %s database from %s to %s (databases now live apart from the keys)", service, legacy,
                target)
