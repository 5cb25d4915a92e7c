"""Webhook signing secrets are stored sealed (AES-256-GCM, the key outside the database), secrets stored in clear
before are sealed on start-up, and a new key re-seals them all; deliveries keep signing with the same secret."""

from __future__ import annotations

import stat
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert

from services.notify import store
from services.notify.app import build
from services.notify.channels import verify_webhook_signature
from services.notify.keys import WebhookSecrets, key_file
from shared.keyring import KeyRing
from shared.service import Service
from shared.settings import Settings
from shared.testing import eventually, running
from tests.integration.notify.conftest import HttpReceiver, Publisher, auth, tip

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])
LOOPBACK = "127.0.0.0/8"  # where the test's receiver listens


async def stored_secret(notify: Service, subscription_id: str) -> str:
    async with notify.db.read() as session:
        row = await store.get_subscription(session=session, subscription_id=subscription_id)
    assert row is not None
    return str(row["secret"])


async def subscribe_webhook(http: Any, token: str, url: str) -> tuple[str, str]:
    r = await http.post("/subscriptions", headers=auth(token), json={
        "event_types": ["antq.tips.*"], "area_code": "79", "channel": "webhook", "target": url})
    assert r.status_code == 201, r.text
    return r.json()["subscription_id"], r.json()["secret"]


async def signed_calls(receiver: HttpReceiver, path: str, count: int = 1) -> list[Any]:
    async def arrived() -> list[Any]:
        calls = receiver.to(path)
        return calls if len(calls) >= count else []

    return await eventually(arrived, what=f"the webhook call to {path}")


async def test_a_webhook_secret_is_stored_sealed_with_a_key_outside_the_database(
        notify_config: Callable[..., Settings], bus: Publisher, receiver: HttpReceiver, backend: str) -> None:
    settings = notify_config(notify_webhook_allowed_networks=LOOPBACK)
    notify = build(settings)
    async with running(notify) as http:
        admin = notify.tokens.issue(role="admin", sub="root")
        subscription_id, secret = await subscribe_webhook(http, admin, f"{receiver.url}/hook")
        stored = await stored_secret(notify, subscription_id)
        assert secret not in stored and KeyRing.is_token(stored)
        await bus.publish(tip("T1", "79.26743"))
        (call,) = await signed_calls(receiver, "/hook")
        assert verify_webhook_signature(secret, call.headers["X-Antq-Signature"], call.body)
    path = key_file(settings)
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert WebhookSecrets(path.read_text().split()).open_secret(stored, subscription_id=subscription_id) == secret


async def test_secrets_stored_in_clear_and_under_old_keys_are_resealed_on_start_and_still_sign(
        notify_config: Callable[..., Settings], database_url: Callable[[str], str], bus: Publisher,
        receiver: HttpReceiver, backend: str) -> None:
    old_key, new_key = KeyRing.generate_key(), KeyRing.generate_key()
    url = database_url("notify")
    first = build(notify_config(notify_database_url=url, notify_secret_keys=old_key,
                                notify_webhook_allowed_networks=LOOPBACK))
    async with running(first) as http:
        sealed_id, sealed_secret = await subscribe_webhook(http, first.tokens.issue(role="admin", sub="root"),
                                                           f"{receiver.url}/sealed")
        # A subscription written by a version that stored secrets in clear.
        async with first.db.unit_of_work() as uow:
            await uow.session.execute(insert(store.subscriptions).values(
                subscription_id="legacy-1", owner="officer:root", event_types='["antq.tips.*"]', area_code="79",
                unit_id=None, min_priority=None, channel="webhook", target=f"{receiver.url}/legacy",
                secret="legacy-clear-secret", created_at=datetime(2026, 1, 1, tzinfo=UTC)))

    second = build(notify_config(notify_database_url=url, notify_secret_keys=f"{new_key},{old_key}",
                                 notify_webhook_allowed_networks=LOOPBACK))
    newest = WebhookSecrets([new_key])
    async with running(second):
        async def resealed() -> bool:
            values = [await stored_secret(second, sid) for sid in (sealed_id, "legacy-1")]
            return all(KeyRing.is_token(v) and not newest.needs_rotation(v) for v in values)

        await eventually(resealed, what="both secrets sealed with the newest key")
        assert newest.open_secret(await stored_secret(second, "legacy-1"),
                                  subscription_id="legacy-1") == "legacy-clear-secret"
        await bus.publish(tip("T1", "79.26743"))
        (sealed_call,) = await signed_calls(receiver, "/sealed")
        (legacy_call,) = await signed_calls(receiver, "/legacy")
    assert verify_webhook_signature(sealed_secret, sealed_call.headers["X-Antq-Signature"], sealed_call.body)
    assert verify_webhook_signature("legacy-clear-secret", legacy_call.headers["X-Antq-Signature"], legacy_call.body)
