"""The generated authorisation matrix: every route of every service × every kind of caller, checked against the
declarative policy.

For each route (from the OpenAPI document) a syntactically valid request is sent with no token, and with tokens
of an admin, officers and (province) leaders of area "79" and "01", the unit that owns the sample resources, another
unit, and an agency.
Every policy lookup (`Policy.rule`, which `authorize`/`require` and service helpers use) and every
`Policy.authorize` decision is recorded while the request runs. Asserted:

- no 5xx, ever;
- every non-public route consulted the policy for every caller with a token;
- a non-public route answers 401 exactly when no token is given;
- a 403 happens exactly when the policy denies the role (no grant for a consulted action) or the scope
  (`authorize` raised); service-specific refinements declared in the service's policy module are listed in
  EXTRA_FORBIDDEN_CODES;
- an area-scoped resource created in area 79 is never returned to an officer or leader of area 01, and a unit-scoped one
  never to another unit.

The console (`test_console_authz_matrix`) is signed in to with sessions, not tokens: every route of its app is
called with no session and a session of a unit account, officers of 79 and 01, a province leader of 79 and an
admin, with the real tips and notify services behind it and a tip of area 79. Asserted: no 5xx; no session means a
redirect to /login (401 for the event stream); the console's POLICY is consulted on every signed-in route and a
role it does not grant gets 403; a unit account never reaches /tips; the officer of 01 is never shown the tip.

`ANTQ_AUTHZ_MATRIX=1` writes the matrix (route × caller → status) to tests/security/authz_matrix.txt.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.console.accounts import csrf_for
from services.console.policy import POLICY as CONSOLE_POLICY
from services.console.views import SESSION_COOKIE
from shared.auth import Principal
from shared.bus.streams import provision
from shared.errors import Forbidden, Unauthorized
from shared.policy import Policy, Rule
from shared.settings import SERVICES, Settings
from shared.testing import running
from tests.console_world import PASSWORD, console_world
from tests.security.examples import AREA, build_request, operations
from tests.support.oidc_provider import TestProvider, serve

SKIP_PATHS = {"/docs", "/openapi.json", "/redoc", "/docs/oauth2-redirect"}
# 403 codes raised by refinements a service declares next to its POLICY (e.g. awards' approval levels).
EXTRA_FORBIDDEN_CODES = {"forbidden_level", "forbidden_fields"}
CALLERS = ("none", "agency", "unit_other", "unit_own", "officer_01", "officer_79", "leader_01", "leader_79", "admin")
MATRIX_FILE = Path(__file__).with_name("authz_matrix.txt")
# The console is signed in to with a session, not a token: one session per kind of account.
CONSOLE_CALLERS = ("none", "unit", "officer_01", "officer_79", "leader_79", "admin")
LEGEND = ("# callers: " + ", ".join(CALLERS) + "; * = 403 from a declared policy refinement\n"
          "# console callers (sessions): " + ", ".join(CONSOLE_CALLERS) + "; L = a redirect to /login\n")


@dataclass
class Call:
    """What the policy saw during one request."""

    looked_up: list[Rule] = field(default_factory=list)
    decisions: list[tuple[str, Principal | None, str]] = field(default_factory=list)  # action, principal, outcome


class Recorder:
    def __init__(self) -> None:
        self.current: Call | None = None

    @contextmanager
    def request(self) -> Iterator[Call]:
        self.current = Call()
        try:
            yield self.current
        finally:
            self.current = None


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    original_rule, original_authorize = Policy.rule, Policy.authorize

    def rule(self: Policy, action: str) -> Rule:
        found = original_rule(self, action)
        if rec.current is not None:
            rec.current.looked_up.append(found)
        return found

    def authorize(self: Policy, principal: Principal | None, action: str, **kw: Any) -> Principal | None:
        try:
            result = original_authorize(self, principal, action, **kw)
        except Forbidden as exc:
            if rec.current is not None:
                rec.current.decisions.append((action, principal, f"403:{exc.code}"))
            raise
        except Unauthorized:
            if rec.current is not None:
                rec.current.decisions.append((action, principal, "401"))
            raise
        if rec.current is not None:
            rec.current.decisions.append((action, principal, "ok"))
        return result

    monkeypatch.setattr(Policy, "rule", rule)
    monkeypatch.setattr(Policy, "authorize", authorize)
    return rec


def tokens_for(service: Any, unit_id: str) -> dict[str, str | None]:
    t = service.tokens
    return {
        "none": None,
        "admin": t.issue(role="admin", sub="matrix-admin"),
        "officer_79": t.issue(role="officer", area="79", sub="matrix-officer-79"),
        "officer_01": t.issue(role="officer", area="01", sub="matrix-officer-01"),
        "leader_79": t.issue(role="leader", level="province", area="79", sub="matrix-leader-79"),
        "leader_01": t.issue(role="leader", level="province", area="01", sub="matrix-leader-01"),
        "unit_own": t.issue(role="unit", unit=unit_id, sub="matrix-unit-own"),
        "unit_other": t.issue(role="unit", unit="u-someone-else", sub="matrix-unit-other"),
        "agency": t.issue(role="agency", sub="matrix-agency"),
    }


def is_public(op: dict[str, Any]) -> bool:
    """The OpenAPI document's word (derived from the policy, shared.apidocs): no requirement, or an optional one."""
    return op["security"] == [] or {} in op["security"]


def sort_key(item: tuple[str, str, dict[str, Any]]) -> tuple[int, str]:
    method, path, _ = item
    return ({"GET": 0, "PUT": 1, "PATCH": 1, "POST": 2, "DELETE": 3}[method], path)


async def _send(http: Any, method: str, kwargs: dict[str, Any], token: str | None) -> Any:
    headers = dict(kwargs.pop("headers", {}) or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return await http.request(method, kwargs.pop("url"), headers=headers, **kwargs)


async def _seed(http: Any, recorder: Recorder, doc: dict[str, Any], ops: list[tuple[str, str, dict[str, Any]]],
                hints: dict[str, Any], admin: str) -> None:
    """Create resources (as admin, or publicly) so that path parameters name real ones in area 79."""
    for method, path, op in ops:
        if method == "POST" and "{" not in path:
            with recorder.request():
                r = await _send(http, method, build_request(doc, path, op, hints), admin)
            if r.status_code < 300 and r.headers.get("content-type", "").startswith("application/json"):
                body = r.json()
                if isinstance(body, dict):
                    for key, value in body.items():
                        if key.endswith("_id") and isinstance(value, str | int) and key not in hints:
                            hints[key] = value
                if isinstance(body, dict) and "unit_id" in body and hints["unit_id"] == "u-sample":
                    hints["unit_id"] = body["unit_id"]


def _judge(where: str, caller: str, public: bool, r: Any, code: str, call: Call, seen_actions: set[str]) -> list[str]:
    """What is wrong with one answer to one caller: a 500, authentication, then the policy's verdict."""
    status = r.status_code
    if status >= 500:
        return [f"{where}: {status} {r.text[:200]}"]
    if caller == "none":
        return _judge_anonymous(where, public, status, code)
    if status == 401:
        return [f"{where}: 401 with a valid token: {r.text[:200]}"]
    if public:
        return []
    if not call.looked_up:
        return [f"{where}: the policy was not consulted ({status})"]
    return _judge_policy(where, caller, status, code, call, seen_actions)


def _judge_anonymous(where: str, public: bool, status: int, code: str) -> list[str]:
    if public and status in (401, 403):
        return [f"{where}: public route refused an anonymous caller ({status})"]
    if not public and status != 401:
        schema_422 = status == 422 and code == "invalid"
        return [f"{where}: expected 401 without a token, got {status} {code}"
                + (" (the sample body failed validation before authentication)" if schema_422 else "")]
    return []


def _judge_policy(where: str, caller: str, status: int, code: str, call: Call, seen_actions: set[str]) -> list[str]:
    problems: list[str] = []
    role = caller.split("_")[0]
    role_denied = [rule.action for rule in call.looked_up if not rule.public and role not in rule.grants]
    scope_denied = [a for a, _, outcome in call.decisions if outcome.startswith("403")]
    wrong_principal = [a for a, p, _ in call.decisions
                       if p is not None and p.sub != f"matrix-{caller.replace('_', '-')}"]
    if wrong_principal:
        problems.append(f"{where}: authorize() was given another principal for {wrong_principal}")
    denied = bool(role_denied or scope_denied)
    if denied and status != 403:
        problems.append(f"{where}: policy denied ({role_denied or scope_denied}) but status {status}")
    if status == 403 and not denied and code not in EXTRA_FORBIDDEN_CODES:
        problems.append(f"{where}: 403 {code} but the policy allowed {sorted(seen_actions)}")
    return problems


def _scope_leaks(path: str, outcomes: dict[str, tuple[int, Call]]) -> list[str]:
    """A resource of area 79 / of the owning unit, read by the wrong officer / unit."""
    problems: list[str] = []
    rules = [rule for _, call in outcomes.values() for rule in call.looked_up]
    for role in ("officer", "leader"):
        s79, s01 = outcomes[f"{role}_79"][0], outcomes[f"{role}_01"][0]
        if any(r.grants.get(role) == "area" for r in rules) and s79 < 300 and s01 < 300:
            problems.append(f"GET {path}: a resource in {AREA} was returned to a {role} of area 01")
    own, other = outcomes["unit_own"][0], outcomes["unit_other"][0]
    if any(r.grants.get("unit") == "unit" for r in rules) and own < 300 and other < 300:
        problems.append(f"GET {path}: a unit's resource was returned to another unit")
    return problems


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("service_name", SERVICES)
async def test_authz_matrix(service_name: str, backend: str, recorder: Recorder,
                            settings_factory: Callable[..., Settings], database_url: Callable[[str], str]) -> None:
    settings = settings_factory(**{f"{s}_database_url": database_url(s) for s in SERVICES})
    service = importlib.import_module(f"services.{service_name}.app").build(settings)
    problems: list[str] = []
    matrix: list[str] = []
    async with running(service) as http:
        doc = service.app.openapi()
        ops = sorted([o for o in operations(doc) if o[1] not in SKIP_PATHS], key=sort_key)
        hints: dict[str, Any] = {"unit_id": "u-sample"}
        admin = service.tokens.issue(role="admin", sub="matrix-seeder")
        await _seed(http, recorder, doc, ops, hints, admin)
        tokens = tokens_for(service, str(hints["unit_id"]))
        for method, path, op in ops:
            public = is_public(op)
            row: dict[str, str] = {}
            seen_actions: set[str] = set()
            outcomes: dict[str, tuple[int, Call]] = {}
            for caller in CALLERS:
                kwargs = build_request(doc, path, op, hints)
                with recorder.request() as call:
                    r = await _send(http, method, kwargs, tokens[caller])
                status = r.status_code
                outcomes[caller] = (status, call)
                seen_actions |= {rule.action for rule in call.looked_up}
                code = ""
                with suppress(ValueError):
                    code = r.json().get("error", {}).get("code", "") if status >= 400 else ""
                row[caller] = f"{status}{'*' if code in EXTRA_FORBIDDEN_CODES else ''}"
                problems += _judge(f"{method} {path} as {caller}", caller, public, r, code, call, seen_actions)
            if method == "GET" and "{" in path:
                problems += _scope_leaks(path, outcomes)
            label = "public" if public else ",".join(sorted(seen_actions)) or "-"
            matrix.append(f"{method:6} {path:55} {label:40} " + " ".join(f"{row[c]:>4}" for c in CALLERS))
    write_section(service_name, CALLERS, matrix)
    assert not problems, f"{service_name}: {len(problems)} authorisation problem(s):\n" + "\n".join(problems)


def write_section(name: str, callers: tuple[str, ...], matrix: list[str]) -> None:
    """With ANTQ_AUTHZ_MATRIX set, replace this service's section of the snapshot file."""
    if not os.environ.get("ANTQ_AUTHZ_MATRIX"):
        return
    header = f"{name}\n{'':6} {'route':55} {'policy actions':40} " + " ".join(f"{c[:4]:>4}" for c in callers)
    existing = MATRIX_FILE.read_text() if MATRIX_FILE.exists() else ""
    sections = [s for s in existing.split("\n## ")[1:] if not s.startswith(f"{name}\n")]
    sections.append("\n".join([header, *matrix]) + "\n")
    order = [*SERVICES, "console"]
    sections.sort(key=lambda s: order.index(s.split("\n", 1)[0]) if s.split("\n", 1)[0] in order else len(order))
    MATRIX_FILE.write_text("\n## ".join([LEGEND, *sections]))


class Hints(dict[str, str]):
    """Path parameters of the console's routes; one not named here gets a value that names nothing."""

    def __missing__(self, key: str) -> str:
        return f"matrix-{key}"


CONSOLE_ACCOUNTS: dict[str, dict[str, Any]] = {
    "unit": {"role": "unit", "area": None, "unit": "u-matrix"},
    "officer_01": {"role": "officer", "area": "01"},
    "officer_79": {"role": "officer", "area": "79"},
    "leader_79": {"role": "leader", "area": "79", "level": "province"},
    "admin": {"role": "admin", "area": None},
}


@dataclass(frozen=True)
class _Shown:
    tip_shown: bool  # the tip of area 79 (or its page, or an action on it) reached the caller
    unit_shown: bool  # the unit of area 79 is on the page


def _tip_shown(path: str, status: int, text: str, tip: dict[str, Any]) -> bool:
    """The queue links the tip by its id; its own page shows the description; an action on it succeeds (a redirect)
    only for someone who may work it."""
    if path.endswith("/attachments/{attachment_id}"):
        # The sample tip has no attachment: past the area check the answer is 404, before it 403.
        return status != 403
    return tip["description"] in text or (path == "/tips" and tip["tip_id"] in text) \
        or (path != "/tips" and status < 400)


def _judge_console(where: str, caller: str, method: str, path: str, public: bool, status: int, to_login: bool,
                   text: str, consulted: list[Any], seen: _Shown) -> list[str]:
    """What is wrong with one console answer to one caller: a 500, the sign-in redirect, the policy's verdict, then
    what an officer of another area was shown."""
    problems = [f"{where}: {status} {text[:200]}"] if status >= 500 else []
    if public:
        return problems + ([f"{where}: a public route sent the caller to /login"] if to_login else [])
    if caller == "none":
        if not to_login and not (path == "/events" and status == 401):
            problems.append(f"{where}: without a session expected a redirect to /login, got {status}")
        return problems
    if not consulted:
        return [*problems, f"{where}: the console's policy was not consulted ({status})"]
    role = CONSOLE_ACCOUNTS[caller]["role"]
    role_denied = [rule.action for rule in consulted if not rule.public and role not in rule.grants]
    if role_denied and status != 403:
        problems.append(f"{where}: the console's policy denies {role_denied} but status {status}")
    if path.startswith("/tips") and role == "unit" and status != 403:
        problems.append(f"{where}: a unit account reached the tip desk ({status})")
    if path.startswith("/tips"):
        problems += _area_leak(where, caller, "tip", seen.tip_shown, status)
    if method == "GET" and path in ("/units", "/units/{unit_id}", "/cycles"):
        # The registry and the workboard show the unit of 79 to the officer of 79 only.
        problems += _area_leak(where, caller, "unit", seen.unit_shown, status)
    return problems


def _area_leak(where: str, caller: str, what: str, shown: bool, status: int) -> list[str]:
    if caller == "officer_01" and shown:
        return [f"{where}: an officer of 01 was shown a {what} of {AREA} ({status})"]
    if caller == "officer_79" and not shown:
        proof = ": the check of the officer of 01 would prove nothing" if what == "tip" else ""
        return [f"{where}: the officer of 79 is not shown the {what} of {AREA} ({status}){proof}"]
    return []


async def test_console_authz_matrix(recorder: Recorder, settings_factory: Callable[..., Settings]) -> None:
    """Every console route × a session of each kind of account (and none), against the console's POLICY; the
    tips, notify, units and awards services behind it are real, with one tip of area 79 in the tips service."""
    problems: list[str] = []
    matrix: list[str] = []

    await provision(settings_factory())  # the tips and notify services behind the console use the bus
    async with serve(TestProvider()) as provider, console_world(
            settings_factory, also=("units", "awards"), oidc_issuer=provider.url, oidc_audience="antq-api",
            oidc_jwks_url=provider.url + "/jwks", console_oidc_client_id=provider.client_id,
            console_public_url="http://127.0.0.1:9") as world, \
            httpx.AsyncClient(base_url=world.urls["console"]) as http, \
            httpx.AsyncClient(base_url=world.urls["tips"]) as tips, \
            httpx.AsyncClient(base_url=world.urls["units"]) as units:
        accounts = world.console.app.state.console.accounts
        for caller, fields in CONSOLE_ACCOUNTS.items():
            await world.add(f"matrix.{caller.replace('_', '-')}", **fields)
        tip = (await tips.post("/tips", json={
            "category": "theft", "anonymous": True, "area_code": AREA, "location_unknown": True,
            "description": "Matrix: a stranger tries the doors of the school at night"})).json()
        tip["description"] = "Matrix: a stranger tries the doors of the school at night"
        tip_id = tip["tip_id"]
        assert world.units is not None
        admin = {"authorization": "Bearer " + world.units.tokens.issue(role="admin")}
        unit = (await units.post("/units", headers=admin, json={
            "name": "Matrix: Công ty Kiểm Thử", "kind": "enterprise", "area_code": AREA})).json()
        hints = Hints(tip_id=tip_id, action="note", notification_id="n-matrix", name="console.css",
                      unit_id=unit["unit_id"])
        forms = {"/tips/{tip_id}/{action}": {"text": "Matrix note"}, "/me/preferences": {"language": "vi"}}
        doc = world.console.app.openapi()
        for method, path, op in sorted([o for o in operations(doc) if o[1] not in SKIP_PATHS], key=sort_key):
            public = is_public(op)
            row: dict[str, str] = {}
            seen_actions: set[str] = set()
            for caller in CONSOLE_CALLERS:
                headers, data = {}, None
                if caller != "none":  # a fresh session per request: /logout must not end the next one's
                    cookie = (await accounts.sign_in(f"matrix.{caller.replace('_', '-')}", PASSWORD,
                                                     now=world.console.clock())).cookie
                    headers["cookie"] = f"{SESSION_COOKIE}={cookie}"
                    data = {"csrf": csrf_for(cookie), **forms.get(path, {})} if method == "POST" else None
                url = path.format_map(hints)
                with recorder.request() as call:
                    # Streamed: /events never ends; its status and headers are enough.
                    async with http.stream(method, url, headers=headers, data=data) as r:
                        stream = r.headers.get("content-type", "").startswith("text/event-stream")
                        text = "" if stream else (await r.aread()).decode(errors="replace")
                status = r.status_code
                # The console's own rules; the services' lookups (same process) are theirs to check.
                consulted = [rule for rule in call.looked_up if rule.action in CONSOLE_POLICY.rules]
                seen_actions |= {rule.action for rule in consulted}
                to_login = status == 303 and r.headers.get("location") == "/login"
                row[caller] = f"{status}{'L' if to_login else ''}"
                seen = _Shown(tip_shown=_tip_shown(path, status, text, tip), unit_shown=unit["name"] in text)
                problems += _judge_console(f"{method} {path} as {caller}", caller, method, path, public, status,
                                           to_login, text, consulted, seen)
            label = "public" if public else ",".join(sorted(seen_actions)) or "-"
            matrix.append(f"{method:6} {path:55} {label:40} " + " ".join(f"{row[c]:>4}" for c in CONSOLE_CALLERS))
    write_section("console", CONSOLE_CALLERS, matrix)
    assert not problems, f"console: {len(problems)} authorisation problem(s):\n" + "\n".join(problems)
