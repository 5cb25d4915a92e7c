"""The abuse limits cannot be escaped: a client cannot choose the address they key on with X-Forwarded-For (only
proxies named in ANTQ_TRUSTED_PROXIES are believed), a flood of new addresses does not reset a busy client's
bucket, and officers entering tips for reporters are limited per person instead of per station address."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from shared.errors import TooManyRequests
from shared.ratelimit import RateLimiter
from shared.server import proxy_options
from shared.settings import Settings
from shared.testing import running
from tests.security.live import serve

TIP = {"category": "theft", "description": "Xe máy bị lấy trộm trước cổng chợ.", "anonymous": True}


def tips_service(settings_factory: Callable[..., Settings], tmp_path: Any, **overrides: Any) -> Any:
    config = settings_factory(tips_database_url=f"sqlite+aiosqlite:///{tmp_path / 'tips.db'}",
                              tips_submit_rate_per_minute=2, **overrides)
    return importlib.import_module("services.tips.app").build(config)


def statuses(base: str, forwarded: list[str]) -> list[int]:
    with httpx.Client(base_url=base, timeout=10) as http:
        return [http.post("/tips", json=TIP, headers={"X-Forwarded-For": address}).status_code
                for address in forwarded]


ROTATING = [f"203.0.113.{n}" for n in range(1, 7)]


def test_rotating_x_forwarded_for_on_a_real_server_does_not_escape_the_limit(
        settings_factory: Callable[..., Settings], tmp_path: Any) -> None:
    with serve(tips_service(settings_factory, tmp_path)) as base:
        assert statuses(base, ROTATING) == [202, 202, 429, 429, 429, 429]


def test_forwarded_addresses_are_honoured_from_a_named_proxy(settings_factory: Callable[..., Settings],
                                                            tmp_path: Any) -> None:
    with serve(tips_service(settings_factory, tmp_path, trusted_proxies="127.0.0.1")) as base:
        assert statuses(base, ROTATING) == [202] * 6  # each forwarded client has its own bucket
        assert statuses(base, ["198.51.100.7"] * 3) == [202, 202, 429]


def test_trusted_proxies_are_addresses_or_networks_and_default_to_none() -> None:
    assert proxy_options(Settings()) == {"proxy_headers": False, "forwarded_allow_ips": []}
    named = Settings(trusted_proxies=" 10.0.0.0/8, 127.0.0.1 ,::1")
    assert proxy_options(named) == {"proxy_headers": True, "forwarded_allow_ips": ["10.0.0.0/8", "127.0.0.1", "::1"]}
    with pytest.raises(ValidationError, match="TRUSTED_PROXIES"):
        Settings(trusted_proxies="proxy.example")


def test_a_flood_of_new_addresses_evicts_the_oldest_buckets_and_keeps_the_busy_one() -> None:
    limiter = RateLimiter("test", rate=1, per=3600, max_clients=3)
    limiter.check("busy", now=0)
    for n in range(20):
        limiter.check(f"spray-{n}", now=n + 1)
        with pytest.raises(TooManyRequests):
            limiter.check("busy", now=n + 1.5)  # still empty: its bucket survived the flood
    assert len(limiter._buckets) == 3


async def test_an_officer_enters_tips_beyond_the_public_limit_within_a_per_person_limit(
        settings_factory: Callable[..., Settings], tmp_path: Any) -> None:
    service = tips_service(settings_factory, tmp_path, tips_staff_submit_rate_per_minute=4)
    officer = {"Authorization": f"Bearer {service.tokens.issue(role='officer', area='79', sub='desk-officer')}"}
    colleague = {"Authorization": f"Bearer {service.tokens.issue(role='officer', area='79', sub='colleague')}"}
    unit = {"Authorization": f"Bearer {service.tokens.issue(role='unit', unit='u-1', sub='unit-staff')}"}
    async with running(service) as http:
        public = [(await http.post("/tips", json=TIP)).status_code for _ in range(3)]
        assert public == [202, 202, 429]  # the station's address has used its public allowance
        entered = [(await http.post("/tips", json=TIP, headers=officer)).status_code for _ in range(5)]
        assert entered == [202, 202, 202, 202, 429]  # beyond the public limit, held by the officer's own
        assert (await http.post("/tips", json=TIP, headers=colleague)).status_code == 202
        assert (await http.post("/tips", json=TIP, headers=unit)).status_code == 429  # not staff: per address
        bad = await http.post("/tips", json=TIP, headers={"Authorization": "Bearer not-a-token"})
        assert bad.status_code == 401
