"""The streams each service consumes, read from the durable consumers the services register: what the NATS
permissions of `antq up` and of `deploy/nats/accounts.conf` grant each service user (shared/bus/permissions.py)."""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path

from shared.settings import SERVICES, Settings


def consumed_streams() -> dict[str, list[str]]:
    """`{service: [stream, ...]}` in registration order. Each service is built (not started) against a
    throw-away data dir, so nothing is connected or written where the platform keeps its data."""
    out: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="antq-consumers-") as tmp:
        settings = Settings(data_dir=Path(tmp), auth_key_file=Path(tmp) / "key.pem", migrate_on_start=False,
                            namespace="")
        for name in SERVICES:
            service = importlib.import_module(f"services.{name}.app").build(settings)
            out[name] = list(dict.fromkeys(consumer.stream for consumer in service.consumers))
    return out
