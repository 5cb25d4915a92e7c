"""Request body limits and JSON hygiene for every service, as a pure ASGI middleware.

- A body larger than the limit for its path is refused with 413 and the contract's JSON error body, from the
  `Content-Length` header before anything is read, or while reading a chunked body.
- JSON bodies (`application/json`, `*+json`) are read up front (they are small) and refused with 400 when they are
  not UTF-8 (RFC 8259) or nest deeper than `max_json_depth`; the application never parses them.
- Limits: `default_limit` (1 MiB), and larger ones per path prefix (`*` matches one path segment), e.g. tip
  attachments and bulk imports. A service can add its own with `app.state.body_limits = {"/prefix": bytes}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MiB = 1024 * 1024
DEFAULT_LIMIT = 1 * MiB
DEFAULT_PATH_LIMITS: dict[str, int] = {
    "/tips/with-attachments": 32 * MiB,  # a tip with its attachments in one multipart request
    "/submit": 32 * MiB,  # the plain web form with attachments
    "/tips/*/attachments": 32 * MiB,
    "/imports/": 64 * MiB,  # bulk import of units (CSV or JSON lines)
}
MAX_JSON_DEPTH = 64
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _matches(pattern: str, path: str) -> bool:
    """Prefix match where a `*` segment matches exactly one path segment."""
    if "*" not in pattern:
        return path.startswith(pattern)
    want, have = pattern.rstrip("/").split("/"), path.split("/")
    if len(have) < len(want):
        return False
    return all(w == "*" or w == h for w, h in zip(want, have, strict=False))


# A JSON string (the regex engine skips it in C); what is left are the brackets that count.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
_STEP[0x5B] = _STEP[0x7B] = 1  # [ {
_STEP[0x5D] = _STEP[0x7D] = -1  # ] }


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """True when arrays/objects nest deeper than `limit` (brackets inside strings are ignored).

    The strings are cut out and everything but the brackets deleted at C speed; only the brackets are then
    walked in Python (a batch body is mostly strings; docs/benchmarks.md).
    An unterminated string keeps its brackets, which can only overstate the depth of a body that is invalid."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        depth += _STEP[byte]
        if depth > limit:
            return True
    return False


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, default_limit: int = DEFAULT_LIMIT,
                 limits: Mapping[str, int] | None = None, max_json_depth: int = MAX_JSON_DEPTH):
        self.app = app
        self.default_limit = default_limit
        self.limits = dict(DEFAULT_PATH_LIMITS if limits is None else limits)
        self.max_json_depth = max_json_depth

    def limit_for(self, scope: Scope) -> int:
        """The limit of the longest pattern that matches the path; the app's own limits override the defaults."""
        app = scope.get("app")
        extra = getattr(getattr(app, "state", None), "body_limits", None)
        if not isinstance(extra, Mapping):
            extra = {}
        best, best_len = self.default_limit, -1
        path = scope.get("path", "")
        for pattern, limit in self.limits.items():  # the defaults in their order, then the app's new patterns
            if len(pattern) > best_len and _matches(pattern, path):
                best, best_len = int(extra.get(pattern, limit)), len(pattern)
        for pattern in extra:
            if pattern not in self.limits and len(pattern) > best_len and _matches(pattern, path):
                best, best_len = int(extra[pattern]), len(pattern)
        return best

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method", "GET") not in _METHODS_WITH_BODY:
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        declared: int | None = None
        if "content-length" in headers:
            try:
                declared = int(headers["content-length"])
                if declared < 0:
                    raise ValueError
            except ValueError:
                await _error(send, 400, "bad_request", "Content-Length is not a number")
                return
            if declared > limit:
                await _too_large(send, limit)
                return
        json_body = _is_json(headers.get("content-type", ""))
        if declared is not None and not json_body:
            await self.app(scope, _counting(receive, limit), send)
            return
        # JSON or chunked: read it now (bounded by the limit), check it, then replay it to the application.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(send, limit)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        if json_body and body:
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                await _error(send, 400, "invalid_encoding", "the JSON body is not valid UTF-8")
                return
            if json_depth_exceeds(body, self.max_json_depth):
                await _error(send, 400, "too_deeply_nested",
                             f"the JSON body nests deeper than {self.max_json_depth} levels",
                             {"max_depth": self.max_json_depth})
                return
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later calls wait for the disconnect, as the server would

    return replay


def _counting(receive: Receive, limit: int) -> Receive:
    """With a declared length the server already stops at it; this guards servers and transports that do not."""
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                return {"type": "http.disconnect"}
        return message

    return counted


async def _too_large(send: Send, limit: int) -> None:
    await _error(send, 413, "payload_too_large", f"the request body exceeds {limit} bytes",
                 {"limit_bytes": limit})


async def _error(send: Send, status: int, code: str, message: str, details: Any = None) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "details": details}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
