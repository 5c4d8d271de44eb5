"""UTC instants, days and months (SPEC §2: "All times are UTC")."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

# RFC 3339 date-time: a 'T', seconds, optional fraction, and a mandatory 'Z' or numeric offset.
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})",
)


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (``Z`` or an offset is required) and convert it to UTC.

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
    return parsed.astimezone(UTC)


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
