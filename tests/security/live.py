"""A service's app served by uvicorn on 127.0.0.1 in a background thread, configured as `antq serve` does it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from shared.bus.streams import provision
from shared.server import server_config
from shared.testing import free_port


@contextmanager
def serve(service: Any) -> Iterator[str]:
    """Run the service's app (lifespan included: migrations, bus, consumers); yield its base URL once ready."""
    asyncio.run(provision(service.settings))  # services wait for their streams; `antq nats provision` declares them
    port = free_port()
    config = server_config(service.app, service.settings, port=port, host="127.0.0.1", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{service.name} did not become ready")
            time.sleep(0.1)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=20)
