"""Webhook targets checked where it counts: when a subscription is made, and again on every connection.

The check at connection time is made inside the HTTP client's network backend: the host is resolved there, every
address it resolves to must be allowed, and the socket is opened to the address that was checked. A name that
pointed outside when the subscription was made and points inside now (DNS rebinding, between the check and the
connection or between two deliveries) is refused. The request itself still names the host, so the Host header,
TLS SNI and certificate check are those of the name.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from services.notify.domain.retry import PermanentDeliveryError
from services.notify.domain.targets import Address, Network, address_allowed, ip_literal, origin_of
from shared.errors import Invalid

RESOLVE_TIMEOUT_SECONDS = 5.0
SCHEMES = ("http", "https")


class TargetRefused(PermanentDeliveryError):
    """The webhook's host is, or resolves to, an address that is not allowed: never retried."""


async def resolve(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to (the system resolver); a numeric host without asking it."""
    literal = ip_literal(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM),
                                   timeout=RESOLVE_TIMEOUT_SECONDS)
    found: list[Address] = []
    for *_, sockaddr in infos:
        address = ip_literal(str(sockaddr[0]))
        if address is not None and address not in found:
            found.append(address)
    return found


def refused_addresses(addresses: Iterable[Address], allowed: Sequence[Network]) -> list[Address]:
    return [a for a in addresses if not address_allowed(a, allowed)]


async def checked_addresses(host: str, port: int, allowed: Sequence[Network], *, shown: str) -> list[Address]:
    """The addresses to connect to for `host`: all of them allowed, else TargetRefused (one bad address is
    enough: which one a connection would use is not ours to choose)."""
    try:
        addresses = await resolve(host, port)
    except (OSError, TimeoutError) as exc:
        raise httpcore.ConnectError(f"{shown}: the name does not resolve ({type(exc).__name__})") from exc
    refused = refused_addresses(addresses, allowed)
    if refused or not addresses:
        raise TargetRefused(f"webhook target {shown} is refused: {', '.join(map(str, refused)) or 'no address'} "
                            "is not a public address (see ANTQ_NOTIFY_WEBHOOK_ALLOWED_NETWORKS)")
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's own backend, connecting only to checked addresses."""

    def __init__(self, allowed: Sequence[Network], inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.allowed = tuple(allowed)
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        addresses = await checked_addresses(host, port, self.allowed, shown=f"{host}:{port}")
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(str(address), port, timeout=timeout,
                                                    local_address=local_address, socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise TargetRefused("webhooks are delivered over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _ResponseBody(httpx.AsyncByteStream):
    """httpcore's response body as httpx reads it; closing it returns the connection to the pool."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> Any:
        try:
            async for chunk in self._stream:
                yield chunk
        except httpcore.TimeoutException as exc:
            raise _httpx_error(exc) from exc
        except httpcore.NetworkError as exc:
            raise _httpx_error(exc) from exc

    async def aclose(self) -> None:
        if hasattr(self._stream, "aclose"):
            await self._stream.aclose()


def _httpx_error(exc: Exception) -> httpx.TransportError:
    """httpx's exception of the same name (httpx mirrors httpcore's exception classes), else a TransportError."""
    for cls in type(exc).__mro__:
        mirrored = getattr(httpx, cls.__name__, None)
        if isinstance(mirrored, type) and issubclass(mirrored, httpx.TransportError):
            return mirrored(str(exc))
    return httpx.TransportError(str(exc))


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore connection pool that uses the guarded backend.

    httpx's own `AsyncHTTPTransport` takes no network backend, so this small transport (public httpx and
    httpcore interfaces only) does what it does: turn the request into httpcore's, and the answer back."""

    def __init__(self, allowed: Sequence[Network]) -> None:
        self._pool = httpcore.AsyncConnectionPool(ssl_context=httpx.create_ssl_context(),
                                                  network_backend=GuardedBackend(allowed))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host, port=request.url.port,
                           target=request.url.raw_path)
        core = httpcore.Request(method=request.method, url=url, headers=request.headers.raw,
                                content=request.stream, extensions=request.extensions)
        try:
            answer = await self._pool.handle_async_request(core)
        except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError,
                httpcore.UnsupportedProtocol) as exc:
            raise _httpx_error(exc) from exc
        return httpx.Response(status_code=answer.status, headers=answer.headers, stream=_ResponseBody(answer.stream),
                              extensions=answer.extensions)

    async def aclose(self) -> None:
        await self._pool.aclose()


def guarded_client(allowed: Sequence[Network], *, timeout_seconds: float) -> httpx.AsyncClient:
    """An HTTP client that connects only to allowed addresses, follows no redirect and ignores proxy settings
    from the environment (a proxy would resolve the name itself, out of reach of the check)."""
    return httpx.AsyncClient(transport=GuardedTransport(allowed), timeout=timeout_seconds, follow_redirects=False,
                             trust_env=False)


async def check_webhook_target(url: str, allowed: Sequence[Network]) -> None:
    """422 `target_not_allowed` unless `url` is http(s) to a host that is, or resolves to, allowed addresses.
    A name that does not resolve yet is accepted: every delivery checks again."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        # httpx refuses some numeric hosts (`0177.0.0.1`) that a resolver would read: say why if that is it.
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            host = ""
        literal = ip_literal(host)
        if literal is not None and not address_allowed(literal, allowed):
            raise Invalid(f"webhook target host {host} is not a public address", code="target_not_allowed",
                          details={"target": host}) from None
        raise Invalid("the webhook target is not a URL", code="invalid_target") from None
    if parsed.scheme not in SCHEMES or not parsed.host:
        raise Invalid("a webhook target must be an http:// or https:// URL with a host", code="invalid_target")
    shown = origin_of(parsed.scheme, parsed.host, parsed.port)
    try:
        await checked_addresses(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80), allowed,
                                shown=shown)
    except TargetRefused as exc:
        raise Invalid(exc.reason, code="target_not_allowed", details={"target": shown}) from None
    except httpcore.ConnectError:
        return


def shown_url(url: str) -> str:
    """`url` as logs and errors may show it: scheme, host and port only."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "<invalid URL>"
    return origin_of(parsed.scheme, parsed.host, parsed.port)
