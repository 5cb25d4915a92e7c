"""The declarative authorisation policy: role × action × scope, one table that every endpoint consults.

Each service declares its actions in `services/<service>/policy.py` as `Rule`s; endpoints call `authorize`.
Scopes: `any` (no restriction), `area` (the principal's area covers the resource's area), `unit` (the token's
unit is the resource's unit), `own` (the resource belongs to the caller's subject), `public` (no token needed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shared.auth import Principal
from shared.errors import Forbidden, Unauthorized

Scope = Literal["any", "area", "unit", "own"]


@dataclass(frozen=True)
class Rule:
    action: str
    grants: dict[str, Scope] = field(default_factory=dict)  # role -> scope
    public: bool = False
    description: str = ""


class Policy:
    def __init__(self, rules: list[Rule]):
        self.rules = {r.action: r for r in rules}
        if len(self.rules) != len(rules):
            raise ValueError("duplicate action in policy")

    def rule(self, action: str) -> Rule:
        try:
            return self.rules[action]
        except KeyError:
            raise KeyError(f"action {action!r} is not in the policy") from None

    def authorize(self, principal: Principal | None, action: str, *, area: str | None = None,
                  unit: str | None = None, owner: str | None = None) -> Principal | None:
        """Raise 401/403 unless the principal may do `action` on a resource with this area/unit/owner."""
        rule = self.rule(action)
        if rule.public:
            return principal
        if principal is None:
            raise Unauthorized("authentication required: Authorization: Bearer <token>")
        scope = rule.grants.get(principal.role)
        if scope is None:
            raise Forbidden(f"role {principal.role!r} may not {action}", code="forbidden_role")
        if not self.in_scope(principal, scope, area=area, unit=unit, owner=owner):
            raise Forbidden(f"outside your scope for {action}", code="forbidden_scope")
        return principal

    def require(self, principal: Principal | None, action: str) -> Principal | None:
        """The role part of `authorize`, for use before the resource (and so its area or unit) is loaded: 401
        without a token, 403 when the role has no grant for `action`. Call `authorize` with the scope after."""
        rule = self.rule(action)
        if rule.public:
            return principal
        if principal is None:
            raise Unauthorized("authentication required: Authorization: Bearer <token>")
        if principal.role not in rule.grants:
            raise Forbidden(f"role {principal.role!r} may not {action}", code="forbidden_role")
        return principal

    def require_caller(self, principal: Principal | None, action: str) -> Principal:
        """`require` for actions that are never public: always returns the authenticated principal."""
        checked = self.require(principal, action)
        if checked is None:
            raise Unauthorized("authentication required: Authorization: Bearer <token>")
        return checked

    def table(self) -> list[tuple[str, str, str]]:
        """(action, who, description) rows for documentation: `public` or `role: scope, ...`."""
        rows = []
        for action, rule in self.rules.items():
            who = "public" if rule.public else ", ".join(f"{r}: {s}" for r, s in rule.grants.items())
            rows.append((action, who, rule.description))
        return rows

    @staticmethod
    def in_scope(principal: Principal, scope: Scope, *, area: str | None, unit: str | None,
                 owner: str | None) -> bool:
        if scope == "any" or principal.role == "admin":
            return True
        if scope == "area":
            return principal.covers_area(area)
        if scope == "unit":
            return principal.unit is not None and principal.unit == unit
        if scope == "own":
            return owner is not None and owner == principal.sub
        return False


OFFICERS: dict[str, Scope] = {"admin": "any", "officer": "area"}
