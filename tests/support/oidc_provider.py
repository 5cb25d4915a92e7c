"""A small OIDC provider for tests, served by uvicorn on 127.0.0.1: discovery, /authorize, /token, /jwks.

/authorize signs in the configured test user at once (no login form) and redirects back with a one-time code;
/token checks the client, the redirect URI and the PKCE verifier (S256) before it issues an ID token signed with
an RSA key (joserfc) that /jwks publishes. Fields of `TestProvider` make it misbehave on purpose.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import html
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from joserfc import jwt
from joserfc.jwk import RSAKey

from services.console.app import build as build_console
from shared.service import Service
from shared.settings import Settings
from shared.testing import eventually, free_port
from tests.console_world import over_http

ROLE_MAP = {"antq-officer": "officer", "antq-leader": "leader", "antq-unit": "unit", "antq-admin": "admin"}
OFFICER_79 = {"sub": "5f0c2f7e-0000-4000-8000-000000000079", "realm_access": {"roles": ["antq-officer"]},
              "area": "79"}


@dataclass
class TestProvider:
    """One provider, one client, one user; `url` is set once it is served."""

    client_id: str = "antq-console"
    client_secret: str | None = None  # None: a public client (PKCE only)
    user: dict[str, Any] = field(default_factory=lambda: dict(OFFICER_79))
    id_token_ttl: int = 300  # negative: the ID token is already expired
    authorize_error: str | None = None  # e.g. access_denied: /authorize sends it back instead of a code
    login_page: bool = False  # /authorize shows a page whose form signs in, as a real provider's does
    nonce_override: str | None = None  # an ID token with another nonce than the one asked for
    url: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "test-1"}))
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: list[tuple[int, str]] = field(default_factory=list)  # (status, error) of each /token call

    __test__ = False  # not a test class, despite its name

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {"iss": self.url, "aud": self.client_id, "iat": now, "exp": now + self.id_token_ttl,
                  "nonce": self.nonce_override or nonce, "azp": self.client_id, **self.user}
        return jwt.encode({"alg": "RS256", "kid": "test-1"}, claims, self.key, algorithms=["RS256"])

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, Any]:
            return {"issuer": self.url, "authorization_endpoint": self.url + "/authorize",
                    "token_endpoint": self.url + "/token", "jwks_uri": self.url + "/jwks",
                    "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
                    "id_token_signing_alg_values_supported": ["RS256"], "subject_types_supported": ["public"]}

        @app.get("/jwks")
        async def jwks() -> dict[str, Any]:
            return {"keys": [{**self.key.as_dict(private=False), "kid": "test-1", "use": "sig", "alg": "RS256"}]}

        @app.get("/authorize")
        async def authorize(request: Request) -> Response:
            if self.login_page:  # a page of the provider's site, whose form sends the browser back
                fields = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                                 for k, v in request.query_params.items())
                return HTMLResponse('<!doctype html><html lang="en"><title>Provider</title><main><form method="post" '
                                    f'action="/authorize">{fields}<button id="provider-sign-in">Sign in</button>'
                                    '</form></main></html>')
            return self._code_for(request.query_params)

        @app.post("/authorize")
        async def authorize_form(request: Request) -> Response:
            return self._code_for({k: v for k, v in (await request.form()).items() if isinstance(v, str)})

        @app.post("/token")
        async def token(request: Request) -> Response:
            form = await request.form()
            error = self._token_error(request, form)
            self.token_requests.append((400 if error else 200, error or ""))
            if error:
                return JSONResponse({"error": error}, status_code=400)
            issued = self.codes.pop(str(form["code"]))
            return JSONResponse({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                                 "expires_in": 300, "id_token": self.id_token(issued["nonce"])})

        return app

    def _code_for(self, q: Mapping[str, str]) -> Response:
        """The authorization request checked, the user signed in: back to the client with a code (or the error)."""
        if q.get("client_id") != self.client_id or q.get("response_type") != "code" \
                or "openid" not in (q.get("scope") or "").split() or q.get("code_challenge_method") != "S256" \
                or not q.get("code_challenge") or not q.get("redirect_uri"):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        back = {"state": q.get("state", "")}
        if self.authorize_error:
            back["error"] = self.authorize_error
        else:
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"redirect_uri": q["redirect_uri"], "challenge": q["code_challenge"],
                                "nonce": q.get("nonce", "")}
            back["code"] = code
        return RedirectResponse(q["redirect_uri"] + "?" + urlencode(back), status_code=302)

    def _token_error(self, request: Request, form: Any) -> str | None:
        if form.get("grant_type") != "authorization_code":
            return "unsupported_grant_type"
        if self.client_secret is not None:
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            if request.headers.get("authorization") != f"Basic {expected}":
                return "invalid_client"
        elif form.get("client_id") != self.client_id:
            return "invalid_client"
        issued = self.codes.get(str(form.get("code")))
        if issued is None or issued["redirect_uri"] != form.get("redirect_uri"):
            return "invalid_grant"
        verifier = str(form.get("code_verifier") or "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != issued["challenge"]:
            self.codes.pop(str(form.get("code")))  # a code is spent by a wrong attempt too
            return "invalid_grant"
        return None


@contextlib.asynccontextmanager
async def serve(provider: TestProvider, host: str = "127.0.0.1") -> AsyncIterator[TestProvider]:
    """The provider on a free port of 127.0.0.1, in this event loop, for the length of the block. `host` names
    it in its URLs: `localhost` makes it another site than a console on 127.0.0.1, as a real provider is."""
    port = free_port()
    provider.url = f"http://{host}:{port}"
    server = uvicorn.Server(uvicorn.Config(provider.app(), host="127.0.0.1", port=port, log_config=None,
                                           access_log=False, lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        async def started() -> bool:
            return bool(server.started)

        await eventually(started, timeout=30, what="OIDC provider started")
        yield provider
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def console_with_provider(settings_factory: Callable[..., Settings], provider: TestProvider,
                                host: str = "127.0.0.1", **overrides: Any) -> AsyncIterator[tuple[Service, str]]:
    """The provider and a console that signs people in with it, both over HTTP; yields the console and its URL.
    The tips and notify services are not there (their pages answer 503)."""
    async with serve(provider, host):
        port = free_port()
        settings = settings_factory(
            console_argon2_profile="fast", console_public_url=f"http://127.0.0.1:{port}",
            console_tips_url="http://127.0.0.1:9", console_notify_url="http://127.0.0.1:9",
            # The services' access-token settings: the console's ID tokens reuse their claim mapping.
            oidc_issuer=provider.url, oidc_audience="antq-api", oidc_jwks_url=provider.url + "/jwks",
            oidc_role_claim="realm_access.roles", oidc_role_map=ROLE_MAP,
            console_oidc_client_id=provider.client_id, console_oidc_client_secret=provider.client_secret,
            **overrides)
        service = build_console(settings)
        async with over_http(service, port) as base:
            yield service, base
