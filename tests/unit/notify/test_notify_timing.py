"""When deliveries go out: quiet hours across midnight, digests, critical bypass; idempotency keys."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.domain import (
    DeliveryIntent,
    DigestItem,
    Preferences,
    QuietHours,
    digest_id,
    due_digests,
    group_digests,
    in_quiet_hours,
    notification_id,
    when_to_send,
)

VN = ZoneInfo("Asia/Ho_Chi_Minh")
NIGHT = Preferences(quiet_hours=QuietHours(start=time(22), end=time(6)))


def intent(channel: str = "email", *, critical: bool = False, mode: str = "immediate") -> DeliveryIntent:
    return DeliveryIntent(recipient_id="officer:a", recipient_kind="officer", channel=channel,  # type: ignore[arg-type]
                          target="a@example.org", mode=mode, critical=critical, language="vi",  # type: ignore[arg-type]
                          reason="rule:test")


def vn(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=VN)


@pytest.mark.parametrize(
    ("local", "quiet"),
    [(time(21, 59), False), (time(22), True), (time(23, 30), True), (time(0), True), (time(5, 59), True),
     (time(6), False), (time(12), False)],
)
def test_quiet_hours_spanning_midnight(local: time, quiet: bool) -> None:
    assert in_quiet_hours(QuietHours(start=time(22), end=time(6)), local) is quiet


def test_quiet_hours_within_one_day_and_empty_window() -> None:
    lunch = QuietHours(start=time(12), end=time(13, 30))
    assert in_quiet_hours(lunch, time(12, 45))
    assert not in_quiet_hours(lunch, time(13, 30))
    assert not in_quiet_hours(QuietHours(start=time(8), end=time(8)), time(8))


def test_email_in_the_evening_part_of_quiet_hours_waits_until_next_morning() -> None:
    now = vn(22, 23, 15)
    assert when_to_send(intent(), NIGHT, now) == vn(23, 6)


def test_email_after_midnight_in_quiet_hours_waits_until_the_same_morning() -> None:
    now = vn(23, 2, 0).astimezone(UTC)  # the result stays in now's timezone
    sent = when_to_send(intent(), NIGHT, now)
    assert sent == vn(23, 6)
    assert sent.tzinfo == UTC


def test_email_outside_quiet_hours_goes_now() -> None:
    now = vn(22, 14)
    assert when_to_send(intent(), NIGHT, now) == now


def test_critical_events_bypass_quiet_hours_and_digest() -> None:
    now = vn(22, 23, 15)
    assert when_to_send(intent(critical=True), NIGHT, now) == now
    assert when_to_send(intent(critical=True, mode="digest"), NIGHT, now) == now


def test_inbox_and_webhook_ignore_quiet_hours() -> None:
    now = vn(22, 23, 15)
    assert when_to_send(intent("inbox"), NIGHT, now) == now
    assert when_to_send(intent("webhook"), NIGHT, now) == now


def test_digest_item_waits_for_next_morning_digest_pushed_past_quiet_hours() -> None:
    prefs = Preferences(mode="digest", digest_at=time(5, 30), quiet_hours=QuietHours(start=time(22), end=time(6)))
    assert when_to_send(intent(mode="digest"), prefs, vn(22, 9)) == vn(23, 6)
    assert when_to_send(intent(mode="digest"), Preferences(mode="digest"), vn(22, 9)) == vn(23, 7)


def test_when_to_send_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone"):
        when_to_send(intent(), NIGHT, datetime(2026, 11, 22, 12))


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)),
       st.times(), st.times())
def test_a_non_critical_push_is_never_scheduled_inside_quiet_hours_nor_in_the_past(
    now: datetime, start: time, end: time
) -> None:
    prefs = Preferences(quiet_hours=QuietHours(start=start, end=end))
    at = when_to_send(intent(), prefs, now)
    assert now <= at <= now + timedelta(days=1)
    assert not in_quiet_hours(prefs.quiet_hours, at.astimezone(VN).time())


# --- idempotency -------------------------------------------------------------------------------------------------
def test_notification_id_is_deterministic_per_cause_recipient_and_channel() -> None:
    first = notification_id("evt-1", "officer:a", "email")
    assert first == notification_id("evt-1", "officer:a", "email")
    assert uuid.UUID(first).version == 5
    others = {notification_id("evt-2", "officer:a", "email"), notification_id("evt-1", "officer:b", "email"),
              notification_id("evt-1", "officer:a", "inbox")}
    assert first not in others and len(others) == 3


def test_notification_id_fields_cannot_be_shifted_into_each_other() -> None:
    assert notification_id("a|b", "c", "inbox") != notification_id("a", "b|c", "inbox")


# --- digest ------------------------------------------------------------------------------------------------------
def item(n: int, recipient: str, at: datetime, channel: str = "email") -> DigestItem:
    return DigestItem(notification_id=f"n{n}", recipient_id=recipient, channel=channel,  # type: ignore[arg-type]
                      event_type="antq.tips.TipTriaged.v1", cause_event_id=f"e{n}", created_at=at)


def test_digest_groups_items_per_recipient_and_local_day() -> None:
    items = [
        item(1, "officer:a", vn(22, 8)),
        item(2, "officer:a", vn(22, 23, 50)),
        item(3, "officer:a", vn(23, 0, 10)),  # 17:10 UTC on the 22nd, but the 23rd in Vietnam
        item(4, "officer:b", vn(22, 9)),
    ]
    digests = group_digests(items, {})
    assert [(d.recipient_id, d.day, [i.notification_id for i in d.items]) for d in digests] == [
        ("officer:a", date(2026, 11, 22), ["n1", "n2"]),
        ("officer:a", date(2026, 11, 23), ["n3"]),
        ("officer:b", date(2026, 11, 22), ["n4"]),
    ]
    assert digests[0].digest_id == digest_id("officer:a", "email", date(2026, 11, 22))
    assert digests[0].send_at == vn(23, 7)


def test_digest_is_due_once_and_not_again_after_it_is_recorded_as_sent() -> None:
    items = [item(1, "officer:a", vn(22, 8)), item(2, "officer:a", vn(22, 18))]
    assert due_digests(items, {}, vn(23, 6, 59)) == []
    due = due_digests(items, {}, vn(23, 7))
    assert len(due) == 1
    # After a restart the same items give the same digest id, which is already recorded as sent.
    assert due_digests(items, {}, vn(23, 8), already_sent=frozenset({due[0].digest_id})) == []


def test_digest_uses_recipient_language_and_digest_time() -> None:
    prefs = {"officer:a": Preferences(mode="digest", language="en", digest_at=time(18))}
    (digest,) = group_digests([item(1, "officer:a", vn(22, 8))], prefs)
    assert digest.language == "en"
    assert digest.send_at == vn(23, 18)
