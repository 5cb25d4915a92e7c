"""`DELETE /subscriptions`: unsubscribe by id (query or body) or by the fields the subscription was created with;
only the caller's own subscriptions (admin: any); 404 when nothing matched, 422 when nothing names one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from services.notify.app import build
from shared.settings import Settings
from shared.testing import running
from tests.integration.notify.conftest import Clock, auth

TIPS = {"event_types": ["antq.tips.TipReceived.v1", "antq.tips.TipOverdue.v1"], "channel": "inbox",
        "area_code": "79"}


async def subscribe(http: httpx.AsyncClient, token: str, **body: Any) -> str:
    r = await http.post("/subscriptions", headers=auth(token), json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["subscription_id"])


async def unsubscribe(http: httpx.AsyncClient, token: str | None, *, params: dict[str, str] | None = None,
                      json: Any = None) -> httpx.Response:
    return await http.request("DELETE", "/subscriptions", headers=auth(token) if token else {}, params=params,
                              json=json)


async def ids(http: httpx.AsyncClient, token: str) -> set[str]:
    r = await http.get("/subscriptions", headers=auth(token), params={"limit": 500})
    assert r.status_code == 200, r.text
    return {s["subscription_id"] for s in r.json()["items"]}


def assert_error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


async def test_delete_by_query_id(notify_settings: Callable[..., Settings], clock: Clock) -> None:
    notify = build(notify_settings())
    notify.clock = clock
    async with running(notify) as http:
        officer = notify.tokens.issue(role="officer", area="79", sub="p79")
        first = await subscribe(http, officer, **TIPS)
        second = await subscribe(http, officer, **TIPS)
        assert_error(await unsubscribe(http, None, params={"subscription_id": first}), 401, "unauthorized")
        r = await unsubscribe(http, officer, params={"subscription_id": first})
        assert r.status_code == 200, r.text
        assert r.json() == {"deleted": [first]}
        assert await ids(http, officer) == {second}
        assert_error(await unsubscribe(http, officer, params={"subscription_id": first}), 404,
                     "subscription_not_found")  # already gone
        # The id in the query and the same id in the body agree; different ones are refused.
        assert_error(await unsubscribe(http, officer, params={"subscription_id": second},
                                       json={"subscription_id": first}), 422, "conflicting_subscription_id")
        r = await unsubscribe(http, officer, params={"subscription_id": second}, json={"subscription_id": second})
        assert r.status_code == 200 and r.json() == {"deleted": [second]}, r.text
        assert await ids(http, officer) == set()
        # The path form keeps working.
        third = await subscribe(http, officer, **TIPS)
        assert (await http.delete(f"/subscriptions/{third}", headers=auth(officer))).status_code == 204


async def test_delete_by_body_id(notify_settings: Callable[..., Settings], clock: Clock) -> None:
    notify = build(notify_settings())
    notify.clock = clock
    async with running(notify) as http:
        unit = notify.tokens.issue(role="unit", unit="U1", sub="u1")
        mine = await subscribe(http, unit, event_types=["antq.units.*"], channel="inbox")
        other = await subscribe(http, unit, event_types=["antq.awards.*"], channel="inbox")
        # An id with fields that do not fit the subscription deletes nothing: every criterion given must match.
        assert_error(await unsubscribe(http, unit, json={"subscription_id": mine, "channel": "email"}), 404,
                     "subscription_not_found")
        r = await unsubscribe(http, unit, json={"subscription_id": mine})
        assert r.status_code == 200 and r.json() == {"deleted": [mine]}, r.text
        assert await ids(http, unit) == {other}


async def test_delete_by_matching_fields(notify_settings: Callable[..., Settings], clock: Clock) -> None:
    notify = build(notify_settings())
    notify.clock = clock
    async with running(notify) as http:
        officer = notify.tokens.issue(role="officer", area="79", sub="p79")
        exact = await subscribe(http, officer, **TIPS)
        clock.advance(seconds=1)  # later, and so listed after the first one
        reordered = await subscribe(http, officer, **{**TIPS, "event_types": list(reversed(TIPS["event_types"]))})
        commune = await subscribe(http, officer, **{**TIPS, "area_code": "79.26743"})
        by_mail = await subscribe(http, officer, **{**TIPS, "channel": "email", "target": "can.bo@example.vn"})
        fewer = await subscribe(http, officer, **{**TIPS, "event_types": ["antq.tips.TipReceived.v1"]})
        colleague = notify.tokens.issue(role="officer", area="79", sub="p79-bis")
        theirs = await subscribe(http, colleague, **TIPS)

        # The same body as the POST: the event types compared as a set, the same channel and area.
        r = await unsubscribe(http, officer, json=TIPS)
        assert r.status_code == 200, r.text
        assert r.json()["deleted"] == [exact, reordered]  # oldest first
        assert await ids(http, officer) == {commune, by_mail, fewer}
        assert await ids(http, colleague) == {theirs}  # another caller's equal subscription stays

        # A field given must be equal; a field left out (here area_code) matches anything.
        assert_error(await unsubscribe(http, officer, json={**TIPS, "area_code": "01"}), 404,
                     "subscription_not_found")
        r = await unsubscribe(http, officer, json={"event_types": TIPS["event_types"], "channel": "email",
                                                   "target": "can.bo@example.vn"})
        assert r.status_code == 200 and r.json() == {"deleted": [by_mail]}, r.text
        # A field given as null matches only subscriptions without it.
        assert_error(await unsubscribe(http, officer, json={"event_types": TIPS["event_types"], "channel": "inbox",
                                                            "area_code": None}), 404, "subscription_not_found")
        r = await unsubscribe(http, officer, json={"event_types": TIPS["event_types"], "channel": "inbox"})
        assert r.status_code == 200 and r.json() == {"deleted": [commune]}, r.text
        assert await ids(http, officer) == {fewer}
        # A misspelt field is refused rather than ignored (it would widen what is deleted).
        assert_error(await unsubscribe(http, officer, json={"event_types": ["antq.tips.TipReceived.v1"],
                                                            "channel": "inbox", "area": "01"}), 422, "invalid")
        assert await ids(http, officer) == {fewer}


async def test_another_callers_subscription_is_not_deleted(notify_settings: Callable[..., Settings],
                                                           clock: Clock) -> None:
    notify = build(notify_settings())
    notify.clock = clock
    async with running(notify) as http:
        officer = notify.tokens.issue(role="officer", area="79", sub="p79")
        colleague = notify.tokens.issue(role="officer", area="79", sub="p79-bis")
        unit = notify.tokens.issue(role="unit", unit="U1", sub="u1")
        admin = notify.tokens.issue(role="admin", sub="root")
        theirs = await subscribe(http, officer, **TIPS)
        for caller in (colleague, unit):
            assert_error(await unsubscribe(http, caller, params={"subscription_id": theirs}), 404,
                         "subscription_not_found")
            assert_error(await unsubscribe(http, caller, json={"subscription_id": theirs}), 404,
                         "subscription_not_found")
        assert_error(await unsubscribe(http, colleague, json=TIPS), 404, "subscription_not_found")
        assert await ids(http, officer) == {theirs}
        # An admin's delete by fields removes only the admin's own subscriptions, never the officer's.
        assert_error(await unsubscribe(http, admin, json=TIPS), 404, "subscription_not_found")
        assert await ids(http, officer) == {theirs}
        # By id, an admin may delete any subscription, as with DELETE /subscriptions/{id}.
        r = await unsubscribe(http, admin, params={"subscription_id": theirs})
        assert r.status_code == 200 and r.json() == {"deleted": [theirs]}, r.text
        assert await ids(http, officer) == set()


async def test_missing_selector_is_422(notify_settings: Callable[..., Settings], clock: Clock) -> None:
    notify = build(notify_settings())
    notify.clock = clock
    async with running(notify) as http:
        officer = notify.tokens.issue(role="officer", area="79", sub="p79")
        kept = await subscribe(http, officer, **TIPS)
        assert_error(await unsubscribe(http, None), 401, "unauthorized")  # authentication comes first
        for body in (None, {}, {"event_types": TIPS["event_types"]}, {"channel": "inbox"},
                     {"channel": "inbox", "area_code": "79"}, {"event_types": TIPS["event_types"], "channel": None}):
            assert_error(await unsubscribe(http, officer, json=body), 422, "missing_selector")
        assert_error(await unsubscribe(http, officer, json={"event_types": [], "channel": "inbox"}), 422, "invalid")
        assert await ids(http, officer) == {kept}
        # A DELETE body passes through the body-limit middleware like any other.
        json_headers = {**auth(officer), "content-type": "application/json"}
        r = await http.request("DELETE", "/subscriptions", headers=json_headers,
                               content=b'{"subscription_id": "' + b"x" * (2 * 1024 * 1024) + b'"}')
        assert_error(r, 413, "payload_too_large")
        # The OpenAPI document builds and shows the optional body and the query parameter.
        doc = (await http.get("/openapi.json")).json()
        op = doc["paths"]["/subscriptions"]["delete"]
        assert not op["requestBody"].get("required", False)
        assert [p["name"] for p in op["parameters"]] == ["subscription_id"]
        assert "delete" in doc["paths"]["/subscriptions/{subscription_id}"]
