"""Every service checks area codes against the national list: a code that is not on it is 422 `unknown_area` with
the nearest places in `details`, and a real commune's code is accepted (79.26734 is not a code; 79.26743 is
Phường Bến Thành)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from services.awards.app import build as build_awards
from services.notify.app import build as build_notify
from services.tips.app import build as build_tips
from shared.settings import Settings
from shared.testing import running

NOT_A_CODE, BEN_THANH = "79.26734", "79.26743"


def _unknown(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "unknown_area", error
    assert "Phường Bến Thành, Thành phố Hồ Chí Minh" in [m["name"] for m in error["details"]["close_matches"]]
    return dict(error)


async def test_tips_awards_and_notify_refuse_a_code_not_on_the_list_and_accept_a_real_commune(
        settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory()
    tips, awards, notify = build_tips(settings), build_awards(settings), build_notify(settings)
    async with running(tips) as t, running(awards) as a, running(notify) as n:
        admin = {"Authorization": "Bearer " + tips.tokens.issue(role="admin", sub="admin")}
        tip = {"category": "theft", "description": "Mất trộm xe máy trước cửa hàng", "anonymous": True}
        _unknown(await t.post("/tips", json={**tip, "area_code": NOT_A_CODE}))
        assert (await t.post("/tips", json={**tip, "area_code": BEN_THANH})).status_code == 202
        _unknown(await t.get("/tips", headers=admin, params={"area_code": NOT_A_CODE}))
        assert (await t.get("/tips", headers=admin, params={"area_code": BEN_THANH})).status_code == 200

        _unknown(await a.get("/awards", headers=admin, params={"area_code": NOT_A_CODE}))
        assert (await a.get("/awards", headers=admin, params={"area_code": BEN_THANH})).status_code == 200

        sub = {"event_types": ["antq.tips.*"], "channel": "inbox"}
        _unknown(await n.post("/subscriptions", headers=admin, json={**sub, "area_code": NOT_A_CODE}))
        assert (await n.post("/subscriptions", headers=admin, json={**sub, "area_code": BEN_THANH})).status_code \
            == 201
