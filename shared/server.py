"""The uvicorn server of one service process, configured from the settings in one place (`antq serve`)."""

from __future__ import annotations

from typing import Any

import uvicorn

from shared.settings import Settings


def proxy_options(settings: Settings) -> dict[str, Any]:
    """Uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise, which let any local client (or one
    behind a proxy on the same host) choose the address that the per-client rate limits key on. Forwarded headers
    are honoured only from the proxies named in ANTQ_TRUSTED_PROXIES; with none named they are ignored."""
    trusted = settings.trusted_proxy_list()
    if not trusted:
        return {"proxy_headers": False, "forwarded_allow_ips": []}
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}


def server_config(app: Any, settings: Settings, *, port: int, **overrides: Any) -> uvicorn.Config:
    """No route of the platform is a WebSocket: `ws="none"` keeps uvicorn from loading a WebSocket protocol
    (the `websockets` library, 1 MiB of each service at rest)."""
    options: dict[str, Any] = {"host": settings.http_host, "port": port, "log_config": None, "access_log": False,
                               "ws": "none",
                               "lifespan": "on", "timeout_graceful_shutdown": 10, **proxy_options(settings)}
    options.update(overrides)
    return uvicorn.Config(app, **options)
