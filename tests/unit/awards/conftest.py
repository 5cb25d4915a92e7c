"""Fixtures of the awards domain tests: the national rule set and the example overlay of province 79."""

from __future__ import annotations

from datetime import date

import pytest

from services.awards.domain import RuleSet, rules_in_force


@pytest.fixture
def national() -> RuleSet:
    return rules_in_force(None, date(2025, 6, 1))


@pytest.fixture
def hcmc() -> RuleSet:
    return rules_in_force("79", date(2025, 6, 1))
