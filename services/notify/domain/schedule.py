"""When a delivery goes out: now, after the recipient's quiet hours, or with the next daily digest."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.notify.domain.model import DeliveryIntent, Preferences, QuietHours
from services.notify.domain.routing import ALWAYS_IMMEDIATE


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")


def in_quiet_hours(quiet: QuietHours | None, local: time) -> bool:
    """Whether a local wall-clock time falls in the window; the end is excluded, an empty window never holds."""
    if quiet is None or quiet.start == quiet.end:
        return False
    if quiet.start < quiet.end:
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end  # spans midnight, e.g. 22:00-06:00


def after_quiet_hours(moment: datetime, prefs: Preferences) -> datetime:
    """`moment` itself when it is outside quiet hours, else the end of the window it is in (same timezone)."""
    tz = ZoneInfo(prefs.timezone)
    local = moment.astimezone(tz)
    quiet = prefs.quiet_hours
    if quiet is None or not in_quiet_hours(quiet, local.timetz().replace(tzinfo=None)):
        return moment
    end = datetime.combine(local.date(), quiet.end, tzinfo=tz)
    if end <= local:  # in the evening part of a window that spans midnight: it ends tomorrow morning
        end += timedelta(days=1)
    return end.astimezone(moment.tzinfo)


def local_day(moment: datetime, prefs: Preferences) -> date:
    _require_aware(moment)
    return moment.astimezone(ZoneInfo(prefs.timezone)).date()


def digest_send_time(day: date, prefs: Preferences) -> datetime:
    """A day's digest goes out the next morning at `digest_at` local time, pushed past quiet hours if needed."""
    tz = ZoneInfo(prefs.timezone)
    at = datetime.combine(day + timedelta(days=1), prefs.digest_at, tzinfo=tz)
    return after_quiet_hours(at, prefs)


def when_to_send(intent: DeliveryIntent, prefs: Preferences, now: datetime) -> datetime:
    """The earliest moment this delivery may go out, in `now`'s timezone.

    Critical events, the inbox and webhooks go now. A digest item waits for its day's digest (the next
    morning). Any other push (email, SMS) waits for the end of the recipient's quiet hours.
    """
    _require_aware(now)
    if intent.critical or intent.channel in ALWAYS_IMMEDIATE:
        return now
    if intent.mode == "digest":
        return digest_send_time(local_day(now, prefs), prefs).astimezone(now.tzinfo)
    return after_quiet_hours(now, prefs)
