"""Notify's HTTP API: who may subscribe to what, preferences, the operators' delivery log and channel tests."""

from __future__ import annotations

import json
from collections.abc import Callable

from services.notify.app import build
from shared.settings import Settings
from shared.testing import running
from tests.integration.notify.conftest import Clock, HttpReceiver, Mail


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_officers_subscribe_only_within_their_area_and_see_only_their_subscriptions(
        notify_settings: Callable[..., Settings], clock: Clock, receiver: HttpReceiver) -> None:
    notify = build(notify_settings())
    notify.clock = clock
    async with running(notify) as http:
        officer = notify.tokens.issue(role="officer", area="79", sub="p79")
        colleague = notify.tokens.issue(role="officer", area="79", sub="p79-bis")
        unit = notify.tokens.issue(role="unit", unit="U1", sub="u1")
        admin = notify.tokens.issue(role="admin", sub="root")
        body = {"event_types": ["antq.tips.*"], "channel": "inbox"}
        r = await http.post("/subscriptions", headers=auth(officer), json={**body, "area_code": "01"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_scope"
        r = await http.post("/subscriptions", headers=auth(officer), json=body)  # no area: the whole country
        assert r.status_code == 403
        r = await http.post("/subscriptions", headers=auth(officer), json={**body, "area_code": "79.26743"})
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["owner"] == "officer:p79" and created["secret"] is None
        r = await http.post("/subscriptions", headers=auth(officer), json={**body, "event_types": ["antq..x"],
                                                                          "area_code": "79"})
        # The request schema's pattern refuses a malformed event type before the handler sees it.
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid"
        assert "event_types" in json.dumps(r.json()["error"])
        r = await http.post("/subscriptions", headers=auth(officer), json={
            "event_types": ["antq.tips.*"], "area_code": "79", "channel": "webhook", "target": "ftp://x"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_target"
        unit_body = {**body, "event_types": ["antq.units.*"]}
        r = await http.post("/subscriptions", headers=auth(unit), json={**unit_body, "unit_id": "U2"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_scope"
        r = await http.post("/subscriptions", headers=auth(unit), json=body)  # a unit never hears of tips
        assert r.status_code == 403 and r.json()["error"]["code"] == "event_types_not_allowed"
        r = await http.post("/subscriptions", headers=auth(unit), json=unit_body)
        assert r.status_code == 201 and r.json()["unit_id"] == "U1"

        mine = (await http.get("/subscriptions", headers=auth(officer))).json()["items"]
        assert [s["subscription_id"] for s in mine] == [created["subscription_id"]]
        assert (await http.get("/subscriptions", headers=auth(colleague))).json()["items"] == []
        assert len((await http.get("/subscriptions", headers=auth(admin))).json()["items"]) == 2
        r = await http.delete(f"/subscriptions/{created['subscription_id']}", headers=auth(colleague))
        assert r.status_code == 404
        r = await http.delete(f"/subscriptions/{created['subscription_id']}", headers=auth(officer))
        assert r.status_code == 204
        assert (await http.get("/subscriptions", headers=auth(officer))).json()["items"] == []
        assert (await http.get("/subscriptions")).status_code == 401


async def test_preferences_round_trip_and_bad_values_are_422(
        notify_settings: Callable[..., Settings], clock: Clock) -> None:
    notify = build(notify_settings())
    notify.clock = clock
    async with running(notify) as http:
        officer = notify.tokens.issue(role="officer", area="79", sub="p79")
        r = await http.get("/preferences", headers=auth(officer))
        assert r.status_code == 200 and r.json()["mode"] == "immediate" and r.json()["language"] == "vi"
        wanted = {"channels": ["email", "inbox"], "language": "en", "mode": "digest",
                  "quiet_hours": {"start": "22:00", "end": "06:00"}, "digest_at": "07:30",
                  "timezone": "Asia/Ho_Chi_Minh", "email": "p79@police.example", "phone": "+84900000001"}
        r = await http.put("/preferences", headers=auth(officer), json=wanted)
        assert r.status_code == 200, r.text
        assert (await http.get("/preferences", headers=auth(officer))).json() == wanted
        for bad in ({"email": "not-an-address"}, {"phone": "call me"}, {"quiet_hours": {"start": "25:00",
                                                                                        "end": "06:00"}},
                    {"timezone": "Mars/Olympus"}, {"mode": "sometimes"}, {"channels": ["pigeon"]}):
            r = await http.put("/preferences", headers=auth(officer), json=bad)
            assert r.status_code == 422, (bad, r.text)
            assert "error" in r.json()


async def test_delivery_log_and_channel_tests_are_for_operators(
        notify_settings: Callable[..., Settings], clock: Clock, mail: Mail, receiver: HttpReceiver) -> None:
    notify = build(notify_settings())
    notify.clock = clock
    async with running(notify) as http:
        admin = notify.tokens.issue(role="admin", sub="root")
        officer = notify.tokens.issue(role="officer", area="79", sub="p79")
        assert (await http.get("/deliveries", headers=auth(officer))).status_code == 403
        assert (await http.post("/channels/test", headers=auth(officer),
                                json={"channel": "email", "target": "a@b.example"})).status_code == 403
        r = await http.get("/deliveries", headers=auth(admin), params={"status": "bogus"})
        assert r.status_code == 422

        r = await http.post("/channels/test", headers=auth(admin), json={"channel": "email",
                                                                       "target": "ops@police.example"})
        assert r.status_code == 200 and r.json()["delivered"] is True, r.text
        assert mail.server.to("ops@police.example")
        r = await http.post("/channels/test", headers=auth(admin), json={
            "channel": "webhook", "target": f"{receiver.url}/probe", "secret": "k"})
        assert r.json()["delivered"] is True and "X-Antq-Signature" in receiver.to("/probe")[0].headers
        receiver.plan["/gone"] = 410
        r = await http.post("/channels/test", headers=auth(admin), json={
            "channel": "webhook", "target": f"{receiver.url}/gone"})
        assert r.json() == {"channel": "webhook", "delivered": False, "provider": None, "detail": None,
                            "error_kind": "permanent", "reason": "webhook receiver answered HTTP 410"}
        r = await http.post("/channels/test", headers=auth(admin), json={"channel": "inbox"})
        assert r.json()["delivered"] is True
        items = (await http.get("/inbox", headers=auth(admin))).json()["items"]
        assert len(items) == 1 and items[0]["event_type"] == "antq.notify.test"
        log = (await http.get("/deliveries", headers=auth(admin), params={"channel": "inbox"})).json()
        assert len(log["items"]) == 1 and log["next_cursor"] is None


async def test_unconfigured_channels_are_refused_clearly(
        settings_factory: Callable[..., Settings], database_url: Callable[[str], str], clock: Clock) -> None:
    notify = build(settings_factory(notify_database_url=database_url("notify")))
    notify.clock = clock
    async with running(notify) as http:
        admin = notify.tokens.issue(role="admin", sub="root")
        r = await http.post("/subscriptions", headers=auth(admin), json={
            "event_types": ["antq.tips.*"], "channel": "sms", "target": "+84900000001"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "channel_unavailable"
        r = await http.post("/channels/test", headers=auth(admin), json={"channel": "email", "target": "a@b.example"})
        assert r.status_code == 422


async def test_reading_writes_nothing_and_a_command_refreshes_the_caller(
        notify_settings: Callable[..., Settings], clock: Clock) -> None:
    """GET routes only read: the caller's recipient row (role and area from the token) is written by commands
    (marking read, preferences, subscriptions, channel tests), never by reading the inbox or a list."""
    from services.notify import store

    notify = build(notify_settings())
    notify.clock = clock
    async with running(notify) as http:
        officer = notify.tokens.issue(role="officer", area="79", sub="p79")
        admin = notify.tokens.issue(role="admin", sub="root")
        for path, token in (("/inbox", officer), ("/inbox?unread=true", officer), ("/subscriptions", officer),
                            ("/preferences", officer), ("/channels", officer), ("/deliveries", admin)):
            assert (await http.get(path, headers=auth(token))).status_code == 200, path
        async with notify.db.read() as session:
            assert await store.get_recipient(session=session, recipient_id="officer:p79") is None
            assert await store.get_recipient(session=session, recipient_id="officer:root") is None
        r = await http.post("/inbox/nothing-here/read", headers=auth(officer))
        assert r.status_code == 404
        async with notify.db.read() as session:
            row = await store.get_recipient(session=session, recipient_id="officer:p79")
        assert row is not None and row["area_code"] == "79" and row["role"] == "officer"
