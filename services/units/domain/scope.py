"""Whether the ANTT standard applies to a unit: the out-of-scope rules as data, and the officer's override."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.events import UnitKind
from shared.errors import Invalid

from .frameworks import RULES_DIR


class ScopeRule(BaseModel):
    """A unit of `kind` whose attributes match every entry of `when` is out of scope.

    An entry's value is either a scalar (attribute must equal it) or a list (attribute must be one of them).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str
    kind: UnitKind
    when: dict[str, Any]
    vi: str
    en: str

    def matches(self, kind: str, attributes: Mapping[str, Any]) -> bool:
        if kind != self.kind:
            return False
        for name, expected in self.when.items():
            actual = attributes.get(name)
            if isinstance(expected, list):
                if actual not in expected:
                    return False
            elif actual != expected:
                return False
        return True


class ScopeRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    version: str
    basis: str = ""
    out_of_scope: tuple[ScopeRule, ...]


class ScopeDecision(BaseModel):
    """The derived scope, the override if any, and the effective answer."""

    model_config = ConfigDict(frozen=True)
    derived: bool
    rule: str | None = Field(default=None, description="code of the out-of-scope rule that matched")
    override: bool | None = None
    override_reason: str | None = None

    @property
    def in_scope(self) -> bool:
        return self.derived if self.override is None else self.override


def load_scope_rules(path: Path | None = None) -> ScopeRules:
    if path is None:
        return _default_rules()
    return _read(path)


@lru_cache(maxsize=1)
def _default_rules() -> ScopeRules:
    return _read(RULES_DIR / "scope.yaml")


def _read(path: Path) -> ScopeRules:
    with path.open(encoding="utf-8") as fh:
        return ScopeRules.model_validate(yaml.safe_load(fh))


def decide_scope(
    kind: str,
    attributes: Mapping[str, Any],
    *,
    override: bool | None = None,
    override_reason: str | None = None,
    rules: ScopeRules | None = None,
) -> ScopeDecision:
    """Apply the out-of-scope rules to a unit's attributes (`armed_forces`, `size`, `school_level`, ...).

    An override must carry a reason, since it departs from the published rules and an auditor will ask why.
    """
    rules = rules or load_scope_rules()
    rule = next((r for r in rules.out_of_scope if r.matches(kind, attributes)), None)
    if override is not None and not (override_reason and override_reason.strip()):
        raise Invalid("overriding the scope needs a reason", details={"field": "in_scope_reason"})
    return ScopeDecision(
        derived=rule is None,
        rule=rule.code if rule else None,
        override=override,
        override_reason=override_reason.strip() if override is not None and override_reason else None,
    )
