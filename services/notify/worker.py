"""The delivery worker: sends due deliveries and daily digests through the channel plugins, one loop per channel.

Each channel has its own loop and its own concurrency, so a channel whose provider hangs or fails only slows
itself. A delivery is claimed by moving its `next_attempt_at` a lease ahead (a conditional update, so two
workers never claim the same row), sent outside any transaction, then settled in one transaction that changes
its state and appends `NotificationDelivered` or `NotificationFailed` to the outbox. A crash between the send
and the settling leaves the row pending: it is sent again when the lease runs out (at least once; email and
webhook carry the notification id so a receiver can drop the copy).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from services.notify import store
from services.notify.channels import ChannelRegistry, OutgoingMessage, SendResult
from services.notify.domain import (
    DeliveryError,
    DigestItem,
    PermanentDeliveryError,
    RetryPolicy,
    TransientDeliveryError,
    default_policy,
    group_digests,
    next_attempt,
    webhook_body,
)
from services.notify.domain.names import NO_NAMES, Names
from services.notify.handlers import NotifyContext, names_for, preferences_from_row
from services.notify.keys import WebhookSecrets
from services.notify.metrics import CHANNELS
from shared.contracts.events import NotificationDelivered, NotificationFailed
from shared.db import Database
from shared.errors import DomainError
from shared.keyring import SealedTokenError

log = logging.getLogger(__name__)

QUEUED = ("pending", "digest", "digested")


class DeliveryWorker:
    def __init__(self, db: Database, channels: ChannelRegistry, ctx: NotifyContext, *, concurrency: int = 8,
                 poll_seconds: float = 1.0, lease_seconds: float = 120.0, policy: RetryPolicy | None = None,
                 rng: random.Random | None = None, secrets: WebhookSecrets) -> None:
        self.db = db
        self.secrets = secrets
        self.channels = channels
        self.ctx = ctx
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.policy = policy or default_policy()
        self.rng = rng or random.Random()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """New deliveries were committed: look now instead of at the next poll."""
        self._wake.set()

    # --- loops ----------------------------------------------------------------------------------------------
    async def run(self) -> None:
        while True:  # before any delivery; a database that is not there yet is waited for
            try:
                await self.seal_secrets()
                break
            except Exception:
                log.exception("notify worker: sealing the webhook secrets failed; trying again")
                await asyncio.sleep(self.poll_seconds)
        loops = [self._forever(f"channel {name}", self._channel_once, name)
                 for name in self.channels.names() if name != "inbox"]
        loops += [self._forever("digests", self._digests_once), self._forever("queue depth", self._depth_once)]
        tasks = [asyncio.create_task(loop) for loop in loops]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.channels.aclose()

    async def seal_secrets(self) -> int:
        """Seal every webhook secret still stored in clear (written before secrets were sealed) and re-seal those
        of older keys with the newest one; returns how many changed. Run on start-up, before any delivery."""
        async with self.db.read() as session:
            stored = await store.stored_secrets(session=session)
        changed = 0
        for subscription_id, value in stored:
            try:
                new = self.secrets.current(value, subscription_id=subscription_id)
            except SealedTokenError as exc:  # its key is gone; its deliveries fail with the reason
                log.warning("notify: the webhook secret of subscription %s does not open: %s", subscription_id, exc)
                continue
            if new != value:
                async with self.db.unit_of_work() as uow:
                    await store.replace_secret(session=uow.session, subscription_id=subscription_id, old=value,
                                               new=new)
                changed += 1
        if changed:
            log.info("notify: %d webhook secret(s) sealed with the newest key", changed)
        return changed

    async def _forever(self, what: str, step: Any, *args: Any) -> None:
        while True:
            try:
                busy = await step(*args)
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not stop the worker; the next turn retries
                log.exception("notify worker: %s step failed", what)
                busy = False
            if not busy:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    async def _channel_once(self, channel: str) -> bool:
        deliveries = await self._claim(store.deliveries, "notification_id", channel)
        digests = await self._claim(store.digests, "digest_id", channel)
        jobs = [self._attempt(nid) for nid in deliveries] + [self._attempt_digest(did) for did in digests]
        if jobs:
            await asyncio.gather(*jobs)
        return bool(jobs)

    # --- claiming -------------------------------------------------------------------------------------------
    async def _claim(self, table: Any, key: str, channel: str) -> list[str]:
        now = self.ctx.clock()
        c = table.c
        async with self.db.read() as session:
            rows = (await session.execute(
                select(c[key], c.attempts).where(c.channel == channel, c.status == "pending",
                                                 c.next_attempt_at <= now)
                .order_by(c.next_attempt_at).limit(self.concurrency))).all()
        if not rows:
            return []
        claimed: list[str] = []
        async with self.db.unit_of_work() as uow:
            for ident, attempts in rows:
                result = await uow.session.execute(
                    update(table).where(c[key] == ident, c.status == "pending", c.attempts == attempts,
                                        c.next_attempt_at <= now)
                    .values(next_attempt_at=now + self.lease))
                if result.rowcount:  # type: ignore[attr-defined]
                    claimed.append(ident)
        return claimed

    # --- single deliveries ----------------------------------------------------------------------------------
    async def _attempt(self, nid: str) -> None:
        async with self.db.read() as session:
            row = (await session.execute(select(store.deliveries).where(
                store.deliveries.c.notification_id == nid))).mappings().one()
            envelope = await store.get_cause_event(session=session, event_id=row["cause_event_id"])
            names = NO_NAMES
            if envelope is not None and row["channel"] != "webhook":  # a webhook carries the event, no names
                names = await names_for(session, [envelope["data"]])
            sub = None
            if row["channel"] == "webhook" and row["subscription_id"]:
                sub = await store.get_subscription(session=session, subscription_id=row["subscription_id"])
                if sub is None:
                    envelope = None  # the subscription was deleted: nobody wants this any more
        result: SendResult | None = None
        error: DeliveryError | None = None
        try:
            if envelope is None:
                raise PermanentDeliveryError("the cause event or the subscription no longer exists")
            secret = None
            if sub is not None and sub["secret"] is not None:
                try:
                    secret = self.secrets.open_secret(sub["secret"], subscription_id=sub["subscription_id"])
                except SealedTokenError as exc:  # its key was removed too early: put it back (see keys.py)
                    raise TransientDeliveryError(f"the webhook secret does not open: {exc}") from exc
            message = self._message(row, envelope, secret, names)
            result = await self.channels.get(row["channel"]).send(message)
        except DeliveryError as exc:
            error = exc
        except DomainError as exc:  # no template, unknown language: retrying cannot help
            error = PermanentDeliveryError(f"cannot render: {exc.message}")
        except Exception as exc:  # noqa: BLE001 — an unexpected failure of a plugin is worth another try
            error = TransientDeliveryError(f"{type(exc).__name__}: {exc}")
        await self._settle(store.deliveries, "notification_id", nid, row, result, error, items=[row])

    def _message(self, row: Mapping[Any, Any], envelope: dict[str, Any], secret: str | None,
                 names: Names) -> OutgoingMessage:
        channel = row["channel"]
        base = {"notification_id": row["notification_id"], "channel": channel, "recipient_id": row["recipient_id"],
                "target": row["target"]}
        if channel == "webhook":
            return OutgoingMessage(**base, body=webhook_body(envelope), secret=secret)
        rendered = self.ctx.templates.render(row["event_type"], channel, row["language"], envelope, names)
        return OutgoingMessage(**base, subject=rendered.subject, text=rendered.text, html=rendered.html)

    # --- settling -------------------------------------------------------------------------------------------
    async def _settle(self, table: Any, key: str, ident: str, row: Mapping[Any, Any], result: SendResult | None,
                      error: DeliveryError | None, *, items: Sequence[Mapping[Any, Any]]) -> None:
        now = self.ctx.clock()
        channel = row["channel"]
        attempts = row["attempts"] + 1
        c = table.c
        d = store.deliveries.c
        outcome = "retry"
        async with self.db.unit_of_work() as uow:
            mine = [c[key] == ident, c.status == "pending", c.attempts == row["attempts"]]
            if error is None:
                assert result is not None
                changed = await uow.session.execute(update(table).where(*mine).values(
                    status="delivered", attempts=attempts, delivered_at=now, provider=result.provider,
                    last_error=None, next_attempt_at=None))
                if not changed.rowcount:  # type: ignore[attr-defined]
                    return
                outcome = "delivered"
                if table is store.digests:
                    await uow.session.execute(update(store.deliveries).where(d.digest_id == ident).values(
                        status="delivered", attempts=attempts, delivered_at=now, provider=result.provider))
                for item in items:
                    uow.emit(NotificationDelivered(notification_id=item["notification_id"], channel=channel,
                                                   cause_event_id=item["cause_event_id"]))
            else:
                decision = next_attempt(self.policy.for_channel(channel), attempts=attempts, error=error, now=now,
                                        rng=self.rng)
                if decision.retry:
                    changed = await uow.session.execute(update(table).where(*mine).values(
                        attempts=attempts, next_attempt_at=decision.at, last_error=decision.reason[:2000]))
                    if not changed.rowcount:  # type: ignore[attr-defined]
                        return
                else:
                    changed = await uow.session.execute(update(table).where(*mine).values(
                        status="failed", attempts=attempts, next_attempt_at=None, last_error=decision.reason[:2000],
                        **({"failed_at": now} if table is store.deliveries else {})))
                    if not changed.rowcount:  # type: ignore[attr-defined]
                        return
                    outcome = "failed"
                    if table is store.digests:
                        await uow.session.execute(update(store.deliveries).where(d.digest_id == ident).values(
                            status="failed", attempts=attempts, failed_at=now, last_error=decision.reason[:2000]))
                    for item in items:
                        uow.emit(NotificationFailed(notification_id=item["notification_id"], channel=channel,
                                                    cause_event_id=item["cause_event_id"], attempts=attempts,
                                                    reason=decision.reason[:2000]))
                log.info("notify: %s %s attempt %d on %s failed: %s", key, ident, attempts, channel, decision.reason)
        metrics = self.ctx.metrics
        if outcome == "delivered":
            for item in items:
                metrics.delivered(channel, (now - item["event_time"]).total_seconds())
        elif outcome == "failed":
            for _ in items:
                metrics.failed(channel)
        else:
            metrics.retries.labels(channel).inc()

    # --- digests --------------------------------------------------------------------------------------------
    async def _digests_once(self) -> bool:
        """Hand parked deliveries whose day is over to one digest per recipient, channel and day.

        The digest id is unique: a digest that exists is never made again, so a restart cannot send it twice.
        A parked item whose digest already went out (it came late) is sent on its own.
        """
        now = self.ctx.clock()
        d = store.deliveries.c
        async with self.db.read() as session:
            # Parked rows carry the send time of their digest: nothing to do before the earliest one.
            earliest = (await session.execute(select(func.min(d.next_attempt_at)).where(
                d.status == "digest"))).scalar()
            if earliest is None or store.as_utc(earliest) > now:
                return False
            rows = (await session.execute(select(store.deliveries).where(d.status == "digest"))).mappings().all()
            if not rows:
                return False
            people = await store.recipients_by_id(session=session, ids={r["recipient_id"] for r in rows})
        preferences = {rid: preferences_from_row(row) for rid, row in people.items()}
        by_id = {r["notification_id"]: r for r in rows}
        items = [DigestItem(notification_id=r["notification_id"], recipient_id=r["recipient_id"],
                            channel=r["channel"], event_type=r["event_type"], cause_event_id=r["cause_event_id"],
                            created_at=r["created_at"]) for r in rows]
        groups = group_digests(items, preferences)
        async with self.db.read() as session:
            existing = {r[0] for r in await session.execute(select(store.digests.c.digest_id).where(
                store.digests.c.digest_id.in_([g.digest_id for g in groups])))}
        made = False
        for group in groups:
            ids = [item.notification_id for item in group.items]
            if group.digest_id in existing:
                async with self.db.unit_of_work() as uow:
                    await uow.session.execute(update(store.deliveries).where(
                        d.notification_id.in_(ids), d.status == "digest").values(status="pending", next_attempt_at=now))
                made = True
                continue
            if group.send_at > now:
                continue
            first = by_id[ids[0]]
            try:
                async with self.db.unit_of_work() as uow:
                    await uow.session.execute(insert(store.digests).values(
                        digest_id=group.digest_id, recipient_id=group.recipient_id, channel=group.channel,
                        day=group.day.isoformat(), target=first["target"], language=group.language,
                        status="pending", attempts=0, item_count=len(ids), next_attempt_at=now, last_error=None,
                        provider=None, created_at=now, delivered_at=None))
                    await uow.session.execute(update(store.deliveries).where(
                        d.notification_id.in_(ids), d.status == "digest").values(
                            status="digested", digest_id=group.digest_id, next_attempt_at=None))
            except IntegrityError:
                continue  # another worker made this digest first
            made = True
        return made

    async def _attempt_digest(self, digest_id: str) -> None:
        d = store.deliveries.c
        async with self.db.read() as session:
            row = (await session.execute(select(store.digests).where(
                store.digests.c.digest_id == digest_id))).mappings().one()
            items = (await session.execute(select(store.deliveries).where(d.digest_id == digest_id).order_by(
                d.created_at, d.notification_id))).mappings().all()
            envelopes = await store.cause_events_by_id(session=session,
                                                       event_ids=[i["cause_event_id"] for i in items])
            names = await names_for(session, [envelope["data"] for envelope in envelopes.values()])
        result: SendResult | None = None
        error: DeliveryError | None = None
        try:
            entries = []
            for item in items:
                envelope = envelopes.get(item["cause_event_id"])
                if envelope is not None:
                    rendered = self.ctx.templates.render(item["event_type"], "inbox", row["language"], envelope,
                                                         names)
                    entries.append((rendered.subject or "", rendered.text))
            digest = self.ctx.templates.render_digest(row["channel"], row["language"],
                                                      date.fromisoformat(row["day"]), entries)
            message = OutgoingMessage(notification_id=digest_id, channel=row["channel"],
                                      recipient_id=row["recipient_id"], target=row["target"], subject=digest.subject,
                                      text=digest.text, html=digest.html)
            result = await self.channels.get(row["channel"]).send(message)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # noqa: BLE001
            error = TransientDeliveryError(f"{type(exc).__name__}: {exc}")
        await self._settle(store.digests, "digest_id", digest_id, row, result, error, items=items)

    # --- queue depth ----------------------------------------------------------------------------------------
    async def _depth_once(self) -> bool:
        d = store.deliveries.c
        async with self.db.read() as session:
            rows = (await session.execute(select(d.channel, func.count()).where(
                d.status.in_(QUEUED)).group_by(d.channel))).all()
        counts: dict[str, int] = {channel: count for channel, count in rows}
        for channel in CHANNELS:
            self.ctx.metrics.queue_depth.labels(channel).set(counts.get(channel, 0))
        return False  # refreshed once a poll interval
