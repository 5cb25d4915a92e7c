"""The console's calls to the four services' HTTP APIs, each with a short-lived token for the signed-in person.

The console never reads another service's database nor the bus: what a page shows is what the person's own
token may read, so every service's policy applies to the console exactly as to any other client.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx

from services.console.domain import Account
from shared.settings import Settings

API_SERVICES = ("units", "tips", "awards", "notify")
NAME_CACHE_SECONDS = 300.0


class ApiError(Exception):
    """A service refused a call (4xx with the contract's error body) or could not be reached (503)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def token_for(issuer: Any, account: Account, *, ttl: int) -> str:
    """The bearer token of one page's calls: the account's role and scope (a leader's level too), a few minutes'
    lifetime."""
    return str(issuer.issue(role=account.role, sub=account.username, area=account.area, unit=account.unit,
                            level=account.level if account.role == "leader" else None, ttl=ttl))


@dataclass
class _Cached:
    value: Any
    until: float


class ServiceApis:
    """One pooled HTTP client for the four services; small caches for names that rarely change."""

    def __init__(self, settings: Settings, issuer: Any):
        self.settings = settings
        self.issuer = issuer
        self.urls = {s: settings.service_url_for(s) for s in API_SERVICES}
        self.http = httpx.AsyncClient(timeout=settings.console_http_timeout)
        self._cache: dict[str, _Cached] = {}

    async def close(self) -> None:
        await self.http.aclose()

    def _headers(self, account: Account | None, accept: str = "application/json") -> dict[str, str]:
        headers = {"accept": accept}
        if account is not None:
            headers["authorization"] = "Bearer " + token_for(self.issuer, account,
                                                             ttl=self.settings.console_token_ttl_seconds)
        return headers

    @staticmethod
    def _refusal(response: httpx.Response) -> ApiError:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        error = payload.get("error") if isinstance(payload, dict) else None
        if not isinstance(error, dict):
            error = {"code": "error", "message": response.reason_phrase}
        return ApiError(response.status_code, str(error.get("code", "error")), str(error.get("message", "")),
                        error.get("details"))

    async def call(self, account: Account | None, service: str, method: str, path: str, *,
                   params: dict[str, Any] | None = None, body: Any = None, timeout: float | None = None) -> Any:
        """`timeout`: seconds for this call when it is known to take longer than one page's (a batch)."""
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = await self.http.request(method, self.urls[service] + path, params=clean, json=body,
                                               headers=self._headers(account),
                                               timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as exc:
            raise ApiError(503, "unavailable", f"{service} unreachable: {type(exc).__name__}") from exc
        if response.status_code == 204:
            return None
        if response.status_code >= 400:
            raise self._refusal(response)
        try:
            return response.json()
        except ValueError:
            return None

    async def download(self, account: Account, service: str, path: str) -> httpx.Response:
        """A file from a service, as an open streamed response the caller must close; a refusal raises ApiError
        as `call` does."""
        request = self.http.build_request("GET", self.urls[service] + path, headers=self._headers(account, "*/*"))
        try:
            response = await self.http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise ApiError(503, "unavailable", f"{service} unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            try:
                await response.aread()
            finally:
                await response.aclose()
            raise self._refusal(response)
        return response

    async def upload(self, account: Account, service: str, path: str, *, filename: str, content_type: str,
                     data: Any) -> Any:
        """One file sent to a service as multipart `file` with the person's token (`data`: bytes or a file
        object, streamed); a refusal raises ApiError as `call` does."""
        return await self._post(service, path, headers=self._headers(account),
                                files={"file": (filename, data, content_type)})

    async def post_body(self, account: Account, service: str, path: str, content: bytes, media: str, *,
                        params: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        """POST a file's bytes as they are (`media` its content type); the answer as `call` gives it."""
        return await self._post(service, path, params=params, content=content,
                                headers={**self._headers(account), "content-type": media},
                                timeout=timeout or self.settings.console_http_timeout)

    async def _post(self, service: str, path: str, **kw: Any) -> Any:
        try:
            response = await self.http.post(self.urls[service] + path, **kw)
        except httpx.HTTPError as exc:
            raise ApiError(503, "unavailable", f"{service} unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise self._refusal(response)
        return response.json()

    async def cached(self, key: str, load: Any) -> Any:
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and hit.until > now:
            return hit.value
        value = await load()
        self._cache[key] = _Cached(value, now + NAME_CACHE_SECONDS)
        return value

    # --- names, never ids -----------------------------------------------------------------------------------
    async def categories(self) -> dict[str, dict[str, str]]:
        """code -> {"vi": label, "en": label}, from the tips service's public list."""
        async def load() -> dict[str, dict[str, str]]:
            data = await self.call(None, "tips", "GET", "/categories")
            return {c["code"]: {"vi": c["label_vi"], "en": c["label_en"]} for c in data["categories"]}

        try:
            return dict(await self.cached("categories", load))
        except ApiError:
            return {}

    async def unit_names(self, account: Account, unit_ids: set[str]) -> dict[str, str]:
        """unit id -> name, for the units the person may read (others keep no name)."""
        async def one(unit_id: str) -> tuple[str, str | None]:
            async def load() -> str | None:
                try:
                    return str((await self.call(account, "units", "GET", f"/units/{unit_id}"))["name"])
                except (ApiError, KeyError, TypeError):
                    return None

            # Cached per scope, so that a name is shown only to people whose token could read it.
            scope = f"{account.role}:{account.area}:{account.unit}"
            return unit_id, await self.cached(f"unit:{scope}:{unit_id}", load)

        found = await asyncio.gather(*(one(u) for u in sorted(unit_ids)))
        return {u: n for u, n in found if n}
