"""The console's calls to the four services' HTTP APIs, each with a short-lived token for the signed-in person.

The console never reads another service's database nor the bus: what a page shows is what the person's own
token may read, so every service's policy applies to the console exactly as to any other client.

The console is also a client of the site's OIDC provider (`ProviderSignIn`, at the end), for sign-in: the
authorization code flow with PKCE (S256), `state` and `nonce`.

`start` makes a flow (state, nonce, PKCE verifier, start time, page language) that the browser keeps in a
short-lived HttpOnly cookie sent only to /oidc/callback, and the provider's authorization URL. `finish` checks
the callback's `state` against that cookie, exchanges the code with the verifier (httpx), verifies the ID token
with shared.oidc (signature by the provider's JWKS, issuer, audience = the console's client id, expiry; the nonce
here) and maps its claims with the settings access tokens use (ANTQ_OIDC_ROLE_CLAIM, ANTQ_OIDC_ROLE_MAP, ...).

The flow cookie needs no signature: each of its values protects only the browser that holds it, an attacker
cannot plant it there (host-only, set by the console), and the provider itself checks the verifier.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from services.console.domain.accounts import Account, AccountError, oidc_username, validate_scope
from shared.errors import Unauthorized
from shared.oidc import OIDCVerifier
from shared.settings import CONSOLE_APIS, Settings

API_SERVICES = CONSOLE_APIS  # shared/service_registry.py
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


@dataclass(frozen=True)
class Channel:
    """A delivery channel of the notify service: its name, its label in each language, and what it needs of the
    person (None, "email", "phone" or "url")."""

    name: str
    labels: dict[str, str]
    target: str | None = None

    def label(self, lang: str) -> str:
        return self.labels.get(lang) or self.labels.get("vi") or self.name


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

    async def channels(self, account: Account) -> list[Channel]:
        """The delivery channels a person may choose, from the notify service's `GET /channels` (its list, so a
        channel notify adds shows up without a change here); ApiError when notify does not answer."""
        async def load() -> list[Channel]:
            data = await self.call(account, "notify", "GET", "/channels")
            try:
                return [Channel(name=str(c["name"]), labels={"vi": str(c["label_vi"]), "en": str(c["label_en"])},
                                target=c.get("target")) for c in data["channels"]]
            except (KeyError, TypeError) as exc:
                raise ApiError(502, "bad_answer", "notify's channel list has another shape") from exc

        return list(await self.cached("channels", load))

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


# --- the OIDC provider ----------------------------------------------------------------------------------------

FLOW_COOKIE = "antq_console_oidc"
FLOW_SECONDS = 600  # a person has ten minutes at the provider
CALLBACK_PATH = "/oidc/callback"


class SignInFailed(Exception):
    """The provider's sign-in cannot complete; `key` names the message the sign-in page shows."""

    def __init__(self, key: str, status: int, reason: str = ""):
        super().__init__(f"{key}: {reason}" if reason else key)
        self.key = key
        self.status = status


@dataclass(frozen=True)
class Flow:
    """One sign-in in progress, as the browser keeps it between /oidc/login and /oidc/callback."""

    state: str
    nonce: str
    verifier: str
    started: int  # Unix seconds
    lang: str

    @classmethod
    def new(cls, now: datetime, lang: str) -> Flow:
        return cls(state=secrets.token_urlsafe(24), nonce=secrets.token_urlsafe(24),
                   verifier=secrets.token_urlsafe(48), started=int(now.timestamp()), lang=lang)

    def cookie(self) -> str:
        return ".".join((self.state, self.nonce, self.verifier, str(self.started), self.lang))

    @classmethod
    def parse(cls, value: str | None) -> Flow | None:
        parts = (value or "").split(".")
        if len(parts) != 5 or not all(parts) or not parts[3].isdigit() or len(value or "") > 400:
            return None
        return cls(state=parts[0], nonce=parts[1], verifier=parts[2], started=int(parts[3]), lang=parts[4])


def code_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(SHA-256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _same(expected: str, given: Any) -> bool:
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())


@dataclass(frozen=True)
class Endpoints:
    authorization: str
    token: str
    jwks: str


class ProviderSignIn:
    """The console as a client of the OIDC provider of ANTQ_OIDC_ISSUER."""

    def __init__(self, settings: Settings, client_id: str, redirect_uri: str):
        self.settings = settings
        self.issuer = str(settings.oidc_issuer)
        self.client_id = client_id
        self.client_secret = settings.console_oidc_client_secret
        self.redirect_uri = redirect_uri
        self._endpoints: Endpoints | None = None
        self._verifier: OIDCVerifier | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ProviderSignIn | None:
        """None without ANTQ_CONSOLE_OIDC_CLIENT_ID; a configuration that cannot work stops the start."""
        if not settings.console_oidc_client_id:
            if not settings.console_password_sign_in:
                raise ValueError("ANTQ_CONSOLE_PASSWORD_SIGN_IN=false needs OIDC sign-in "
                                 "(ANTQ_CONSOLE_OIDC_CLIENT_ID): nobody could sign in")
            return None
        if not settings.oidc_issuer:
            raise ValueError("ANTQ_CONSOLE_OIDC_CLIENT_ID needs ANTQ_OIDC_ISSUER (the provider)")
        if not settings.console_public_url:
            raise ValueError("ANTQ_CONSOLE_OIDC_CLIENT_ID needs ANTQ_CONSOLE_PUBLIC_URL (the redirect URL's base)")
        return cls(settings, settings.console_oidc_client_id,
                   settings.console_public_url.rstrip("/") + CALLBACK_PATH)

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self.settings.oidc_http_timeout, follow_redirects=False)

    async def endpoints(self) -> Endpoints:
        """The provider's endpoints from its discovery document, read once (again after a failure)."""
        async with self._lock:
            if self._endpoints is None:
                url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
                try:
                    async with self._client() as http:
                        response = await http.get(url, headers={"Accept": "application/json"})
                        response.raise_for_status()
                        doc = response.json()
                except (httpx.HTTPError, ValueError) as exc:
                    raise SignInFailed("oidc.unavailable", 503, f"discovery: {type(exc).__name__}") from exc
                names = ("authorization_endpoint", "token_endpoint", "jwks_uri")
                if not isinstance(doc, dict) or doc.get("issuer") != self.issuer or \
                        not all(isinstance(doc.get(n), str) for n in names):
                    raise SignInFailed("oidc.unavailable", 503, f"{url} does not describe {self.issuer}")
                self._endpoints = Endpoints(*(str(doc[n]) for n in names))
                self._verifier = OIDCVerifier.from_settings(self.settings, audience=self.client_id,
                                                            jwks_url=self._endpoints.jwks)
            return self._endpoints

    async def start(self, *, now: datetime, lang: str) -> tuple[Flow, str]:
        """A new flow and the provider's authorization URL to send the browser to."""
        endpoints = await self.endpoints()
        flow = Flow.new(now, lang)
        query = urlencode({"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
                           "scope": "openid", "state": flow.state, "nonce": flow.nonce,
                           "code_challenge": code_challenge(flow.verifier), "code_challenge_method": "S256"})
        separator = "&" if "?" in endpoints.authorization else "?"
        return flow, endpoints.authorization + separator + query

    async def finish(self, params: Mapping[str, str], flow: Flow | None, *, now: datetime) -> Account:
        """The account of the person the provider signed in, or SignInFailed."""
        if flow is None or not _same(flow.state, params.get("state")):
            raise SignInFailed("oidc.state", 400)  # not the flow this browser started (or its cookie is gone)
        if now.timestamp() - flow.started > FLOW_SECONDS:
            raise SignInFailed("oidc.expired", 400)
        if params.get("error") or not params.get("code"):
            raise SignInFailed("oidc.provider_error", 401, str(params.get("error", "no code"))[:64])
        endpoints = await self.endpoints()
        id_token = await self._exchange(endpoints, str(params["code"]), flow.verifier)
        verifier = self._verifier
        if verifier is None:  # set with the endpoints
            raise SignInFailed("oidc.unavailable", 503, "no verifier")
        try:
            # The JWKS cache fetches with a blocking client: keep it off the event loop.
            claims = await asyncio.to_thread(verifier.verified_claims, id_token, now=now.timestamp())
        except Unauthorized as exc:
            raise SignInFailed("oidc.invalid_token", 401, exc.message) from exc
        if not _same(flow.nonce, claims.get("nonce")):
            raise SignInFailed("oidc.invalid_token", 401, "nonce")
        audiences = claims.get("aud")
        if isinstance(audiences, list) and len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise SignInFailed("oidc.invalid_token", 401, "azp")
        try:
            principal = verifier.principal_from(claims)
            return validate_scope(Account(username=oidc_username(principal.sub), role=principal.role,
                                          area=principal.area, unit=principal.unit, level=principal.level))
        except (Unauthorized, AccountError) as exc:
            raise SignInFailed("oidc.no_role", 403, str(exc)) from exc

    async def _exchange(self, endpoints: Endpoints, code: str, verifier: str) -> str:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                "code_verifier": verifier, "client_id": self.client_id}
        # A confidential client authenticates with client_secret_basic; a public one by PKCE alone.
        auth = httpx.BasicAuth(self.client_id, self.client_secret) if self.client_secret else httpx.USE_CLIENT_DEFAULT
        try:
            async with self._client() as http:
                response = await http.post(endpoints.token, data=data, auth=auth,
                                           headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise SignInFailed("oidc.unavailable", 503, f"token: {type(exc).__name__}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
            error = body.get("error") if isinstance(body, dict) else None
            raise SignInFailed("oidc.refused", 401, f"token endpoint {response.status_code} {error}"[:120])
        return str(body["id_token"])
