"""The template's schedules, fired locally: EventBridge ``cron(...)``/``rate(...)`` expressions, the
pure "next fire time after t" computation, the Scheduled Event a rule sends, and a thread that
invokes each scheduled function at its times (UTC unless a ScheduleV2 names a timezone)."""

from __future__ import annotations

import calendar
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from usage_local.stacklog import log
from usage_local.template import ACCOUNT_ID, REGION, Schedule

MONTHS = {name: i for i, name in enumerate(calendar.month_abbr) if name} | {
    name.upper(): i for i, name in enumerate(calendar.month_abbr) if name
}
# EventBridge numbers days of the week 1 (SUN) to 7 (SAT).
WEEKDAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
RATE_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}
LAST_YEAR = 2199


class ScheduleError(ValueError):
    """An expression EventBridge would refuse."""


def _values(field: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    """The numbers a cron field (``*``, ``a-b``, ``a/n``, ``a-b/n``, lists) stands for."""
    result: set[int] = set()
    for part in field.upper().split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = _number(first, names), _number(last, names)
        else:
            start = _number(base, names)
            end = high if step_text else start
        if not (low <= start <= high and low <= end <= high) or step < 1:
            raise ScheduleError(f"{part!r} is outside {low}-{high}")
        if start <= end:
            result.update(range(start, end + 1, step))
        else:  # a wrapping range such as FRI-MON
            result.update(v for i, v in enumerate([*range(start, high + 1), *range(low, end + 1)]) if i % step == 0)
    return frozenset(result)


def _number(text: str, names: dict[str, int] | None) -> int:
    if names and text in names:
        return names[text]
    if not text.isdigit():
        raise ScheduleError(f"{text!r} is not a number")
    return int(text)


@dataclass(frozen=True)
class Cron:
    """A parsed EventBridge cron expression: minutes hours day-of-month month day-of-week year."""

    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    days_of_month: str  # kept as text: L, W and ? depend on the month
    days_of_week: str

    @classmethod
    def parse(cls, text: str) -> Cron:
        fields = text.split()
        if len(fields) != 6:
            raise ScheduleError(f"cron({text}) needs 6 fields: minutes hours day-of-month month day-of-week year")
        minute, hour, dom, month, dow, year = fields
        if (dom == "?") == (dow == "?"):
            raise ScheduleError(f"cron({text}): exactly one of day-of-month and day-of-week must be '?'")
        cron = cls(
            minutes=_values(minute, 0, 59),
            hours=_values(hour, 0, 23),
            months=_values(month, 1, 12, MONTHS),
            years=_values(year, 1970, LAST_YEAR),
            days_of_month=dom.upper(),
            days_of_week=dow.upper(),
        )
        cron.matches_day(date(2024, 1, 1))  # validate the day fields now, not at the first fire
        return cron

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months or day.year not in self.years:
            return False
        if self.days_of_month != "?":
            return self._day_of_month_matches(day)
        return self._day_of_week_matches(day)

    def _day_of_month_matches(self, day: date) -> bool:
        last = calendar.monthrange(day.year, day.month)[1]
        for part in self.days_of_month.split(","):
            if part == "L":
                if day.day == last:
                    return True
            elif part == "LW":
                if day == _nearest_weekday(day.replace(day=last), day.month):
                    return True
            elif part.endswith("W"):
                target = int(part[:-1])
                if target <= last and day == _nearest_weekday(day.replace(day=target), day.month):
                    return True
            elif day.day in _values(part, 1, 31):
                return True
        return False

    def _day_of_week_matches(self, day: date) -> bool:
        weekday = (day.isoweekday() % 7) + 1  # Sunday = 1
        for part in self.days_of_week.split(","):
            if "#" in part:
                name, nth = part.split("#")
                if weekday == _number(name, WEEKDAYS) and (day.day - 1) // 7 + 1 == int(nth):
                    return True
            elif part.endswith("L") and part != "L":
                last = calendar.monthrange(day.year, day.month)[1]
                if weekday == _number(part[:-1], WEEKDAYS) and day.day > last - 7:
                    return True
            elif part == "L":
                if weekday == 7:
                    return True
            elif weekday in _values(part, 1, 7, WEEKDAYS):
                return True
        return False

    def next_after(self, moment: datetime) -> datetime | None:
        """The first minute strictly after ``moment`` (naive wall time) that this expression names."""
        start = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.date()
        while day.year <= LAST_YEAR:
            if day.year not in self.years:
                later = [y for y in self.years if y > day.year]
                if not later:
                    return None
                day = date(min(later), 1, 1)
                continue
            if self.matches_day(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = datetime(day.year, day.month, day.day, hour, minute)
                        if candidate >= start:
                            return candidate
            day += timedelta(days=1)
        return None


def _nearest_weekday(day: date, month: int) -> date:
    """Cron's ``W``: the weekday nearest ``day`` without leaving its month."""
    if day.weekday() == 5:  # Saturday
        before = day - timedelta(days=1)
        return before if before.month == month else day + timedelta(days=2)
    if day.weekday() == 6:  # Sunday
        after = day + timedelta(days=1)
        return after if after.month == month else day - timedelta(days=2)
    return day


@dataclass(frozen=True)
class Rate:
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        match = re.fullmatch(r"\s*(\d+)\s+([a-z]+)\s*", text)
        if not match or match.group(2) not in RATE_UNITS or int(match.group(1)) < 1:
            raise ScheduleError(f"rate({text}) must be 'N minute(s)|hour(s)|day(s)' with N >= 1")
        number, unit = int(match.group(1)), match.group(2)
        if (number == 1) != unit.endswith(("minute", "hour", "day")):
            raise ScheduleError(f"rate({text}): use the singular unit for 1, the plural otherwise")
        return cls(number * RATE_UNITS[unit])


def parse_expression(expression: str) -> Cron | Rate:
    match = re.fullmatch(r"\s*(cron|rate)\((.*)\)\s*", expression)
    if not match:
        raise ScheduleError(f"{expression!r} is neither cron(...) nor rate(...)")
    return Cron.parse(match.group(2)) if match.group(1) == "cron" else Rate.parse(match.group(2))


def next_fire_time(
    expression: str, after: datetime, anchor: datetime | None = None, timezone: str | None = None
) -> datetime | None:
    """The first instant strictly after ``after`` (aware) when the schedule fires, in UTC.

    A rate counts from ``anchor`` (when the rule was created; default ``after``); a cron names
    wall-clock minutes in ``timezone`` (default UTC)."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    parsed = parse_expression(expression)
    if isinstance(parsed, Rate):
        origin = anchor or after
        periods = max(0, int((after - origin).total_seconds() // parsed.seconds) + 1)
        return (origin + timedelta(seconds=parsed.seconds * periods)).astimezone(UTC)
    zone = ZoneInfo(timezone) if timezone else UTC
    local = after.astimezone(zone).replace(tzinfo=None)
    while True:
        found = parsed.next_after(local)
        if found is None:
            return None
        fire = found.replace(tzinfo=zone).astimezone(UTC)
        if fire > after:  # a wall time repeated by a DST change can map to before ``after``
            return fire
        local = found


def scheduled_event(rule_arn: str, at: datetime) -> dict[str, Any]:
    """The event an EventBridge rule sends its target at ``at``."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [rule_arn],
        "detail": {},
    }


def rule_arn(schedule: Schedule) -> str:
    return f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{schedule.rule_name}"


def event_for(schedule: Schedule, at: datetime) -> Any:
    """What the target receives: the schedule's Input if it has one, else the Scheduled Event."""
    if schedule.input is not None:
        return json.loads(schedule.input)
    return scheduled_event(rule_arn(schedule), at)


class Scheduler:
    """One thread that sleeps until the next fire time of any schedule and fires it (each firing
    runs in its own thread, so a slow function delays no other schedule)."""

    def __init__(self, schedules: list[Schedule], fire: Callable[[Schedule, datetime], None]) -> None:
        self.schedules = [s for s in schedules if s.enabled]
        self.fire = fire
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)

    def start(self) -> None:
        for schedule in self.schedules:
            parse_expression(schedule.expression)  # fail at start, not at the first firing
            log("scheduler", f"{schedule.function}.{schedule.event}: {schedule.expression}")
        if self.schedules:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        anchor = datetime.now(UTC)
        upcoming: dict[int, datetime | None] = {
            i: next_fire_time(s.expression, anchor, anchor, s.timezone) for i, s in enumerate(self.schedules)
        }
        while not self._stop.is_set():
            due = [(at, i) for i, at in upcoming.items() if at is not None]
            if not due:
                return
            at, index = min(due)
            wait = (at - datetime.now(UTC)).total_seconds()
            if wait > 0 and self._stop.wait(min(wait, 60)):
                return
            if datetime.now(UTC) < at:
                continue  # woke early (waits are capped so the clock is re-read now and then)
            schedule = self.schedules[index]
            threading.Thread(target=self.fire, args=(schedule, at), daemon=True).start()
            upcoming[index] = next_fire_time(schedule.expression, at, anchor, schedule.timezone)
