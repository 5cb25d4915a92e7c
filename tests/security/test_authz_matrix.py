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

import pytest

from shared.auth import Principal
from shared.errors import Forbidden, Unauthorized
from shared.policy import Policy, Rule
from shared.settings import SERVICES, Settings
from shared.testing import running
from tests.security.examples import AREA, build_request, operations

SKIP_PATHS = {"/docs", "/openapi.json", "/redoc", "/docs/oauth2-redirect"}
# 403 codes raised by refinements a service declares next to its POLICY (e.g. awards' approval levels).
EXTRA_FORBIDDEN_CODES = {"forbidden_level", "forbidden_fields"}
CALLERS = ("none", "agency", "unit_other", "unit_own", "officer_01", "officer_79", "leader_01", "leader_79", "admin")
MATRIX_FILE = Path(__file__).with_name("authz_matrix.txt")


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
    return "(public" in (op.get("summary") or "").lower()


def sort_key(item: tuple[str, str, dict[str, Any]]) -> tuple[int, str]:
    method, path, _ = item
    return ({"GET": 0, "PUT": 1, "PATCH": 1, "POST": 2, "DELETE": 3}[method], path)


async def _send(http: Any, method: str, kwargs: dict[str, Any], token: str | None) -> Any:
    headers = dict(kwargs.pop("headers", {}) or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return await http.request(method, kwargs.pop("url"), headers=headers, **kwargs)


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
        # Seed: create resources (as admin, or publicly) so that path parameters name real ones in area 79.
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
                where = f"{method} {path} as {caller}"
                code = ""
                with suppress(ValueError):
                    code = r.json().get("error", {}).get("code", "") if status >= 400 else ""
                row[caller] = f"{status}{'*' if code in EXTRA_FORBIDDEN_CODES else ''}"
                if status >= 500:
                    problems.append(f"{where}: {status} {r.text[:200]}")
                    continue
                if caller == "none":
                    if public and status in (401, 403):
                        problems.append(f"{where}: public route refused an anonymous caller ({status})")
                    if not public and status != 401:
                        schema_422 = status == 422 and code == "invalid"
                        problems.append(f"{where}: expected 401 without a token, got {status} {code}"
                                        + (" (the sample body failed validation before authentication)"
                                           if schema_422 else ""))
                    continue
                if status == 401:
                    problems.append(f"{where}: 401 with a valid token: {r.text[:200]}")
                    continue
                if public:
                    continue
                if not call.looked_up:
                    problems.append(f"{where}: the policy was not consulted ({status})")
                    continue
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
            # Scope leaks: a resource of area 79 / of the owning unit, read by the wrong officer / unit.
            if method == "GET" and "{" in path:
                rules = [rule for _, call in outcomes.values() for rule in call.looked_up]
                for role in ("officer", "leader"):
                    s79, s01 = outcomes[f"{role}_79"][0], outcomes[f"{role}_01"][0]
                    if any(r.grants.get(role) == "area" for r in rules) and s79 < 300 and s01 < 300:
                        problems.append(f"GET {path}: a resource in {AREA} was returned to a {role} of area 01")
                own, other = outcomes["unit_own"][0], outcomes["unit_other"][0]
                if any(r.grants.get("unit") == "unit" for r in rules) and own < 300 and other < 300:
                    problems.append(f"GET {path}: a unit's resource was returned to another unit")
            label = "public" if public else ",".join(sorted(seen_actions)) or "-"
            matrix.append(f"{method:6} {path:55} {label:40} " + " ".join(f"{row[c]:>4}" for c in CALLERS))
    if os.environ.get("ANTQ_AUTHZ_MATRIX"):
        header = f"## {service_name}\n{'':6} {'route':55} {'policy actions':40} " + " ".join(
            f"{c[:4]:>4}" for c in CALLERS)
        legend = "# callers: " + ", ".join(CALLERS) + "; * = 403 from a declared policy refinement\n"
        existing = MATRIX_FILE.read_text() if MATRIX_FILE.exists() else legend
        sections = [s for s in existing.split("\n## ") if not s.startswith(f"{service_name}\n")]
        text = "\n## ".join([*sections, "\n".join([header.removeprefix("## "), *matrix]) + "\n"])
        MATRIX_FILE.write_text(text if text.startswith("#") else legend + text)
    assert not problems, f"{service_name}: {len(problems)} authorisation problem(s):\n" + "\n".join(problems)
