"""Pure grouping of pending digest items into one digest per recipient, channel and local day."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from services.notify.domain.identity import digest_id
from services.notify.domain.model import (
    DEFAULT_PREFERENCES,
    ChannelName,
    Language,
    Preferences,
)
from services.notify.domain.schedule import digest_send_time, local_day


class DigestItem(BaseModel):
    """A notification parked for the digest; `created_at` decides which local day it belongs to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    notification_id: str
    recipient_id: str
    channel: ChannelName
    event_type: str
    cause_event_id: str
    created_at: datetime


class Digest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    digest_id: str
    recipient_id: str
    channel: ChannelName
    day: date
    language: Language
    send_at: datetime
    items: tuple[DigestItem, ...]

    @property
    def key(self) -> tuple[str, str, date]:
        return (self.recipient_id, self.channel, self.day)


def group_digests(items: Iterable[DigestItem], preferences: Mapping[str, Preferences]) -> list[Digest]:
    """One digest per (recipient, channel, local day), items oldest first, digests in a stable order.

    The digest id derives from that key, so a digest stored as sent is never sent again after a restart,
    and an item that arrives late for an already-sent day is seen by the caller as belonging to a sent key.
    """
    groups: dict[tuple[str, str, date], list[DigestItem]] = {}
    for item in items:
        prefs = preferences.get(item.recipient_id, DEFAULT_PREFERENCES)
        day = local_day(item.created_at, prefs)
        groups.setdefault((item.recipient_id, item.channel, day), []).append(item)
    digests: list[Digest] = []
    for (recipient_id, channel, day), grouped in sorted(groups.items()):
        prefs = preferences.get(recipient_id, DEFAULT_PREFERENCES)
        grouped.sort(key=lambda it: (it.created_at, it.notification_id))
        digests.append(
            Digest(
                digest_id=digest_id(recipient_id, channel, day),
                recipient_id=recipient_id,
                channel=grouped[0].channel,
                day=day,
                language=prefs.language,
                send_at=digest_send_time(day, prefs),
                items=tuple(grouped),
            )
        )
    return digests


def due_digests(
    items: Iterable[DigestItem],
    preferences: Mapping[str, Preferences],
    now: datetime,
    already_sent: frozenset[str] = frozenset(),
) -> list[Digest]:
    """The digests whose time has come and whose id is not among those already sent."""
    return [d for d in group_digests(items, preferences) if d.send_at <= now and d.digest_id not in already_sent]
