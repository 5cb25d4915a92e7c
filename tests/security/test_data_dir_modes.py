"""The data dir is owner-only (folders 0700; databases with their -wal/-shm files, keys and logs 0600), and the
databases live under db/, apart from keys/, so that a copy of the database folder never carries the identity key.
A data dir of the old layout (databases in its root, 0644 in 0755) is put right when a process starts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from services.tips.keys import key_file, receipt_key_file
from shared.datadir import prepare_data_dir
from shared.settings import SERVICES, Settings
from shared.testing import eventually, free_port

ROOT = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def everything(root: Path) -> list[Path]:
    return [root, *root.rglob("*")]


def test_an_old_data_dir_is_made_owner_only_and_its_databases_move_away_from_the_keys(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "keys").mkdir(parents=True)
    (data / "logs").mkdir()
    for path, text in {data / "tips.db": "db", data / "tips.db-wal": "wal", data / "units.db": "db",
                       data / "keys" / "tips_identity.keys": "k", data / "logs" / "tips.log": "log"}.items():
        path.write_text(text)
        path.chmod(0o644)
    for folder in (data, data / "keys", data / "logs"):
        folder.chmod(0o755)
    settings = Settings(data_dir=data)
    old_umask = os.umask(0o022)
    try:
        prepare_data_dir(settings, SERVICES)
    finally:
        os.umask(old_umask)
    assert not (data / "tips.db").exists() and not (data / "tips.db-wal").exists()
    assert (data / "db" / "tips.db").read_text() == "db" and (data / "db" / "tips.db-wal").read_text() == "wal"
    assert (data / "db" / "units.db").exists()
    assert str(data / "db" / "tips.db") in settings.database_url_for("tips")
    assert key_file(settings).parent == data / "keys" and not list((data / "db").rglob("*.keys"))
    modes = {p.relative_to(tmp_path).as_posix(): mode(p) for p in everything(data)}
    assert modes == {p: (0o700 if (tmp_path / p).is_dir() else 0o600) for p in modes}, modes


def test_antq_serve_creates_its_database_wal_and_identity_key_owner_only(
        tmp_path: Path, nats_url: str, namespace: str) -> None:
    data = tmp_path / "data"
    port = free_port()
    env = {**os.environ, "ANTQ_DATA_DIR": str(data), "ANTQ_NATS_URL": nats_url, "ANTQ_NAMESPACE": namespace,
           "ANTQ_HTTP_PORT": str(port), "ANTQ_GC_FREEZE_ON_START": "false"}
    env.pop("ANTQ_TIPS_DATABASE_URL", None)
    env.pop("ANTQ_TIPS_IDENTITY_KEYS", None)
    # umask 022, as a login shell has it: the process itself must make its files owner-only.
    proc = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "tips"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: os.umask(0o022))
    try:
        async def ready() -> bool:
            assert proc.poll() is None, f"antq serve exited with {proc.returncode}"
            async with httpx.AsyncClient(timeout=2) as http:
                try:
                    r = await http.post(f"http://127.0.0.1:{port}/tips", json={
                        "category": "theft", "description": "Mất xe đạp ở nhà xe.", "anonymous": False,
                        "reporter": {"name": "Lê Văn C"}})
                except httpx.TransportError:
                    return False  # not listening yet
                return r.status_code == 202

        asyncio.run(eventually(ready, timeout=60, interval=0.2, what="antq serve tips took a tip"))
        database = data / "db" / "tips.db"
        created: dict[str, Any] = {p.relative_to(data).as_posix(): oct(mode(p)) for p in everything(data)}
        assert database.exists() and Path(f"{database}-wal").exists(), created
        assert key_file(Settings(data_dir=data)).exists(), created
        assert receipt_key_file(Settings(data_dir=data)).exists(), created
        assert all(m == oct(0o700 if (data / p).is_dir() else 0o600) for p, m in created.items()), created
    finally:
        proc.terminate()
        proc.wait(timeout=30)
