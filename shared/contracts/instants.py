"""Instants that come from outside (request bodies, inbound events, pagination cursors): aware, bounded, UTC.

One validator for all of them, so that a time such as `0001-01-01T00:00:00+14:00` (whose UTC form is before
year 1) or `9999-12-31T23:59:59-14:00` (after year 9999) is refused as bad input (422, or the DLQ) instead of
overflowing in a conversion, a comparison with the database or a deadline computed from it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

# The same years the APIs accept elsewhere (`year` query parameters are 2000..2200).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def bounded_instant(value: datetime) -> datetime:
    """`value` in UTC when it carries a time zone and lies in [EARLIEST, LATEST); else ValueError (the message
    never echoes the value). The bounds are checked before converting, which cannot overflow once they hold."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("the time needs a time zone (RFC 3339, e.g. 2026-11-22T10:00:00+07:00)")
    # Comparing aware datetimes subtracts their offsets without building a datetime, so it cannot overflow.
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"the time must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)")
    return value.astimezone(UTC)


# The bounds in the JSON Schema of a request (no standard keyword bounds a date-time): a year of 2000-2199, and not
# the first or last day of that range, where an offset can carry the instant across a bound. Request documents only
# (validation mode): the published event schemas (serialisation mode, shared.contracts.jsonschema) stay as they are.
INSTANT_PATTERN = (r"^(?:(?:200[1-9]|20[1-9][0-9]|21[0-8][0-9]|219[0-8])-|2000-(?:0[2-9]|1[0-2])-"
                   r"|2000-01-(?:0[2-9]|[12][0-9]|3[01])|2199-(?:0[1-9]|1[01])-|2199-12-(?:[0-2][0-9]|30))")
DATE_PATTERN = r"^(?:20[0-9]{2}|21[0-9]{2})-"

Instant = Annotated[datetime, AfterValidator(bounded_instant),
                    WithJsonSchema({"type": "string", "format": "date-time", "pattern": INSTANT_PATTERN},
                                   mode="validation")]
"""A pydantic field type for instants given by callers and other agencies (see the module docstring)."""


def bounded_date(value: date) -> date:
    """A calendar date in the years the events carry (2000-2199), else ValueError."""
    if not EARLIEST.year <= value.year < LATEST.year:
        raise ValueError(f"the date must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return value


BoundedDate = Annotated[date, AfterValidator(bounded_date),
                        WithJsonSchema({"type": "string", "format": "date", "pattern": DATE_PATTERN},
                                       mode="validation")]
"""A date a caller gives that ends up in an event (whose `year` is 2000-2199): an activity's, a decision's."""
