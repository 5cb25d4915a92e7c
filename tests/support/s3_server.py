"""An S3-compatible object store for tests: moto's server on a free port of 127.0.0.1, in the test process,
spoken to over real HTTP (not mocks)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from shared.testing import free_port

ACCESS = {"s3_access_key_id": "antq", "s3_secret_access_key": "antq-secret"}


@contextlib.asynccontextmanager
async def s3_server() -> AsyncIterator[str]:
    """Yields the server's endpoint URL until the block ends."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
