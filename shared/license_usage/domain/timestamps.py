"""UTC instants, days and months (SPEC §2: "All times are UTC")."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

# RFC 3339 date-time: a 'T', seconds, optional fraction, and a mandatory 'Z' or numeric offset.
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})",
)


# Every instant and date the service takes lies in the years 1970 to 9999 (UTC), so that every
# figure, key and sortable text of one can be computed and stored (SPEC §2: all times are UTC).
EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(9999, 12, 31)
EARLIEST = datetime.combine(EARLIEST_DAY, time(), UTC)
LATEST = datetime.combine(LATEST_DAY, time.max, UTC)
OUT_OF_RANGE = "must lie in the years 1970 to 9999 (UTC)"


def check_day(day: date) -> date:
    """A date the API takes: in the years 1970 to 9999."""
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise ValueError(OUT_OF_RANGE)
    return day


def add_capped(instant: datetime, delta: timedelta) -> datetime:
    """``instant + delta``, no later than the last instant of 9999 (and no earlier than 1970)."""
    try:
        return min(LATEST, max(EARLIEST, instant + delta))
    except OverflowError:
        return LATEST if delta > timedelta(0) else EARLIEST


def end_of_day(day: date) -> datetime:
    """The last instant of a UTC day (its end, inclusive: the end of 9999-12-31 has no day after)."""
    return datetime.combine(day, time.max, UTC)


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (``Z`` or an offset is required) and convert it to UTC: the one
    bounded instant type of every timestamp the API takes (events, plans, windows, cursors).

    ``2024-02-29T23:30:00-08:00`` becomes ``2024-03-01T07:30:00Z`` (SPEC §2)."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError("must be an RFC 3339 timestamp with 'Z' or an offset, e.g. 2026-03-01T09:30:00Z")
    day, clock, fraction, offset = match.groups()
    # Python keeps microseconds: longer fractions are truncated, not rounded.
    micro = (fraction or ".0")[1:7].ljust(6, "0")
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        parsed = datetime.fromisoformat(f"{day}T{clock}.{micro}{offset}")
    except ValueError:
        raise ValueError("is not a real date and time") from None
    try:
        instant = parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(OUT_OF_RANGE) from None
    if not EARLIEST <= instant <= LATEST:
        raise ValueError(OUT_OF_RANGE)
    return instant


def format_utc(instant: datetime) -> str:
    """Fixed-width UTC text (microseconds, 'Z') so that stored timestamps sort as strings."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_utc_seconds(instant: datetime) -> str:
    """The API's display form: UTC, whole seconds, 'Z'."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_day(instant: datetime) -> date:
    """The UTC calendar day an instant falls in."""
    return instant.astimezone(UTC).date()


def utc_now() -> datetime:
    return datetime.now(UTC)


def order_key_instant(order_key: str) -> datetime:
    """The instant of an order key ``<format_utc text>#<id>`` (or of a bare ``format_utc`` text)."""
    return datetime.strptime(order_key.partition("#")[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def display_utc(stored: str) -> str:
    """A stored ``format_utc`` text (or order key) in the API's display form."""
    return format_utc_seconds(order_key_instant(stored))
