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
from datetime import date, datetime, timedelta
from typing import Any

from services.notify import store
from services.notify.channels import OutgoingMessage, SendResult
from services.notify.context import NotifyContext
from services.notify.domain import (
    DeliveryError,
    Digest,
    DigestItem,
    PermanentDeliveryError,
    RetryPolicy,
    TransientDeliveryError,
    default_policy,
    group_digests,
    next_attempt,
    webhook_body,
)
from services.notify.domain.channels import INBOX, channel_names, traits
from services.notify.domain.names import NO_NAMES, Names
from services.notify.handlers import names_for, preferences_from_row
from shared.contracts.events import NotificationDelivered, NotificationFailed
from shared.db import UnitOfWork
from shared.errors import DomainError
from shared.keyring import SealedTokenError

log = logging.getLogger(__name__)


class DeliveryWorker:
    def __init__(self, ctx: NotifyContext, *, concurrency: int = 8, poll_seconds: float = 1.0,
                 lease_seconds: float = 120.0, policy: RetryPolicy | None = None,
                 rng: random.Random | None = None) -> None:
        self.ctx = ctx
        self.db = ctx.db
        self.secrets = ctx.secrets
        self.channels = ctx.channels
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
        # The inbox is delivered by intake, in the consumer's transaction: it has no loop.
        loops = [self._forever(f"channel {name}", self._channel_once, name)
                 for name in self.channels.names() if name != INBOX]
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
        deliveries = await self._claim("delivery", channel)
        digests = await self._claim("digest", channel)
        jobs = [self._attempt(nid) for nid in deliveries] + [self._attempt_digest(did) for did in digests]
        if jobs:
            await asyncio.gather(*jobs)
        return bool(jobs)

    # --- claiming -------------------------------------------------------------------------------------------
    async def _claim(self, kind: str, channel: str) -> list[str]:
        now = self.ctx.now()
        async with self.db.read() as session:
            rows = await store.due(session=session, kind=kind, channel=channel, now=now, limit=self.concurrency)
        if not rows:
            return []
        claimed: list[str] = []
        async with self.db.unit_of_work() as uow:
            for ident, attempts in rows:
                if await store.claim(session=uow.session, kind=kind, ident=ident, attempts=attempts, now=now,
                                     until=now + self.lease):
                    claimed.append(ident)
        return claimed

    # --- single deliveries ----------------------------------------------------------------------------------
    async def _attempt(self, nid: str) -> None:
        async with self.db.read() as session:
            row = await store.get_delivery(session=session, notification_id=nid)
            envelope = await store.get_cause_event(session=session, event_id=row["cause_event_id"])
            carries_event = traits(row["channel"]).message == "cloudevent"
            names = NO_NAMES
            if envelope is not None and not carries_event:  # a webhook carries the event, no names
                names = await names_for(session, [envelope["data"]])
            sub = None
            if carries_event and row["subscription_id"]:
                sub = await store.get_subscription(session=session, subscription_id=row["subscription_id"])
                if sub is None:
                    envelope = None  # the subscription was deleted: nobody wants this any more
        result: SendResult | None = None
        error: DeliveryError | None = None
        try:
            if envelope is None:
                raise PermanentDeliveryError("the cause event or the subscription no longer exists")
            message = self._message(row, envelope, self._secret(sub), names)
            result = await self.channels.get(row["channel"]).send(message)
        except DeliveryError as exc:
            error = exc
        except DomainError as exc:  # no template, unknown language: retrying cannot help
            error = PermanentDeliveryError(f"cannot render: {exc.message}")
        except Exception as exc:  # noqa: BLE001 — an unexpected failure of a plugin is worth another try
            error = TransientDeliveryError(f"{type(exc).__name__}: {exc}")
        await self._settle("delivery", nid, row, result, error, items=[row])

    def _secret(self, sub: Mapping[Any, Any] | None) -> str | None:
        """The signing secret of a webhook's subscription, opened."""
        if sub is None or sub["secret"] is None:
            return None
        try:
            return self.secrets.open_secret(sub["secret"], subscription_id=sub["subscription_id"])
        except SealedTokenError as exc:  # its key was removed too early: put it back (see keys.py)
            raise TransientDeliveryError(f"the webhook secret does not open: {exc}") from exc

    def _message(self, row: Mapping[Any, Any], envelope: dict[str, Any], secret: str | None,
                 names: Names) -> OutgoingMessage:
        channel = row["channel"]
        base = {"notification_id": row["notification_id"], "channel": channel, "recipient_id": row["recipient_id"],
                "target": row["target"]}
        if traits(channel).message == "cloudevent":
            return OutgoingMessage(**base, body=webhook_body(envelope), secret=secret)
        rendered = self.ctx.templates.render(row["event_type"], channel, row["language"], envelope, names)
        return OutgoingMessage(**base, subject=rendered.subject, text=rendered.text, html=rendered.html)

    # --- settling -------------------------------------------------------------------------------------------
    async def _settle(self, kind: str, ident: str, row: Mapping[Any, Any], result: SendResult | None,
                      error: DeliveryError | None, *, items: Sequence[Mapping[Any, Any]]) -> None:
        now = self.ctx.now()
        channel = row["channel"]
        async with self.db.unit_of_work() as uow:
            if error is None:
                assert result is not None
                outcome = await self._delivered(uow, kind, ident, row, result, items, now)
            else:
                outcome = await self._not_delivered(uow, kind, ident, row, error, items, now)
        metrics = self.ctx.metrics
        if outcome == "delivered":
            for item in items:
                metrics.delivered(channel, (now - item["event_time"]).total_seconds())
        elif outcome == "failed":
            for _ in items:
                metrics.failed(channel)
        elif outcome == "retry":
            metrics.retries.labels(channel).inc()

    async def _delivered(self, uow: UnitOfWork, kind: str, ident: str, row: Mapping[Any, Any], result: SendResult,
                         items: Sequence[Mapping[Any, Any]], now: datetime) -> str:
        if not await store.settle_delivered(session=uow.session, kind=kind, ident=ident,
                                            attempts_before=row["attempts"], now=now, provider=result.provider):
            return "gone"
        for item in items:
            uow.emit(NotificationDelivered(notification_id=item["notification_id"], channel=row["channel"],
                                           cause_event_id=item["cause_event_id"]))
        return "delivered"

    async def _not_delivered(self, uow: UnitOfWork, kind: str, ident: str, row: Mapping[Any, Any],
                             error: DeliveryError, items: Sequence[Mapping[Any, Any]], now: datetime) -> str:
        channel = row["channel"]
        attempts = row["attempts"] + 1
        decision = next_attempt(self.policy.for_channel(channel), attempts=attempts, error=error, now=now,
                                rng=self.rng)
        reason = decision.reason[:2000]
        key = store.SENDABLE[kind][1]
        if decision.retry:
            if not await store.settle_retry(session=uow.session, kind=kind, ident=ident,
                                            attempts_before=row["attempts"], at=decision.at, reason=reason):
                return "gone"
            outcome = "retry"
        else:
            if not await store.settle_failed(session=uow.session, kind=kind, ident=ident,
                                             attempts_before=row["attempts"], now=now, reason=reason):
                return "gone"
            outcome = "failed"
            for item in items:
                uow.emit(NotificationFailed(notification_id=item["notification_id"], channel=channel,
                                            cause_event_id=item["cause_event_id"], attempts=attempts,
                                            reason=reason))
        log.info("notify: %s %s attempt %d on %s failed: %s", key, ident, attempts, channel, decision.reason)
        return outcome

    # --- digests --------------------------------------------------------------------------------------------
    async def _digests_once(self) -> bool:
        """Hand parked deliveries whose day is over to one digest per recipient, channel and day.

        The digest id is unique: a digest that exists is never made again, so a restart cannot send it twice.
        A parked item whose digest already went out (it came late) is sent on its own.
        """
        now = self.ctx.now()
        async with self.db.read() as session:
            rows = await store.parked(session=session, now=now)
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
            existing = await store.existing_digest_ids(session=session, ids=[g.digest_id for g in groups])
        made = False
        for group in groups:
            made = await self._make_digest(group, by_id, existing, now) or made
        return made

    async def _make_digest(self, group: Digest, by_id: Mapping[str, Mapping[Any, Any]], existing: set[str],
                           now: datetime) -> bool:
        """Make one digest of its parked items, or send them alone when their digest already went out."""
        ids = [item.notification_id for item in group.items]
        if group.digest_id in existing:
            async with self.db.unit_of_work() as uow:
                await store.send_parked_alone(session=uow.session, ids=ids, now=now)
            return True
        if group.send_at > now:
            return False
        first = by_id[ids[0]]
        async with self.db.unit_of_work() as uow:
            return await store.create_digest(session=uow.session, ids=ids, values={
                "digest_id": group.digest_id, "recipient_id": group.recipient_id, "channel": group.channel,
                "day": group.day.isoformat(), "target": first["target"], "language": group.language,
                "status": "pending", "attempts": 0, "item_count": len(ids), "next_attempt_at": now,
                "last_error": None, "provider": None, "created_at": now, "delivered_at": None})

    async def _attempt_digest(self, digest_id: str) -> None:
        async with self.db.read() as session:
            row, items = await store.get_digest(session=session, digest_id=digest_id)
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
                    rendered = self.ctx.templates.render(item["event_type"], INBOX, row["language"], envelope,
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
        await self._settle("digest", digest_id, row, result, error, items=items)

    # --- queue depth ----------------------------------------------------------------------------------------
    async def _depth_once(self) -> bool:
        async with self.db.read() as session:
            counts = await store.queue_depth(session=session)
        for channel in channel_names():
            self.ctx.metrics.queue_depth.labels(channel).set(counts.get(channel, 0))
        return False  # refreshed once a poll interval
