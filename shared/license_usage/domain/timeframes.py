"""Report windows (SPEC §5): named timeframes and custom ranges, as inclusive UTC dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from license_usage.domain.errors import InvalidRequest
from license_usage.domain.timestamps import check_day, end_of_day

TIMEFRAMES = (
    "this_month",
    "last_month",
    "this_quarter",
    "last_quarter",
    "this_year",
    "last_year",
    "last_30_days",
    "custom",
)
MAX_CUSTOM_DAYS = 731


@dataclass(frozen=True)
class Window:
    name: str
    first: date  # included
    last: date  # included

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.first, time(), UTC)

    @property
    def ends_at(self) -> datetime:
        """The window's last instant (inclusive: 9999-12-31 has no day after it)."""
        return end_of_day(self.last)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _previous_month_start(day: date) -> date:
    first = _month_start(day)
    return _month_start(first - timedelta(days=1))


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def resolve_window(name: str, today: date, first: date | None = None, last: date | None = None) -> Window:
    """The dates a timeframe covers. Periods that have not ended stop at ``today``: figures for
    days to come would all be zero, and "end of the window" then means now."""
    if name == "this_month":
        return Window(name, _month_start(today), today)
    if name == "last_month":
        start = _previous_month_start(today)
        return Window(name, start, _month_start(today) - timedelta(days=1))
    if name == "this_quarter":
        return Window(name, _quarter_start(today), today)
    if name == "last_quarter":
        start = _add_months(_quarter_start(today), -3)
        return Window(name, start, _quarter_start(today) - timedelta(days=1))
    if name == "this_year":
        return Window(name, date(today.year, 1, 1), today)
    if name == "last_year":
        return Window(name, date(today.year - 1, 1, 1), date(today.year - 1, 12, 31))
    if name == "last_30_days":
        return Window(name, today - timedelta(days=29), today)
    if name == "custom":
        if first is None or last is None:
            raise InvalidRequest(
                "A custom timeframe needs from and to (YYYY-MM-DD).",
                [{"field": "from" if first is None else "to", "message": "is required"}],
            )
        for field, day in (("from", first), ("to", last)):
            try:
                check_day(day)
            except ValueError as error:
                raise InvalidRequest(f"{field} {error}.", [{"field": field, "message": str(error)}]) from None
        if last < first:
            raise InvalidRequest("to must not be before from.", [{"field": "to", "message": "is before from"}])
        if (last - first).days >= MAX_CUSTOM_DAYS:
            raise InvalidRequest(
                "A custom timeframe covers at most two years.",
                [{"field": "to", "message": "is more than two years after from"}],
            )
        return Window(name, first, last)
    raise InvalidRequest(
        f"timeframe must be one of {', '.join(TIMEFRAMES)}.",
        [{"field": "timeframe", "message": "is not a known timeframe"}],
    )


def iso_week_start(day: date) -> date:
    """SPEC §3: weeks are ISO weeks, starting Monday 00:00 UTC."""
    return day - timedelta(days=day.weekday())
