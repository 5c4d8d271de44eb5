"""Seats (SPEC §2): a user takes a seat at their first login in the plan and keeps it until
deactivated, deleted or released; a later login takes a seat again.

A user's seat follows the latest event that touched it, by (timestamp, id), so late and
out-of-order events settle as if they had arrived in order."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from license_usage.domain.errors import Conflict
from license_usage.domain.plans import Plan, PlanMonth, plan_months
from license_usage.domain.timestamps import parse_rfc3339

RELEASING_EVENT_TYPES = frozenset({"user.deactivated", "user.deleted"})


class SeatLimitReached(Conflict):
    """A hard-enforced plan has no seat left (SPEC §2: 409)."""

    code = "seat_limit_reached"


class SeatOutcome(StrEnum):
    GRANTED = "granted"
    ALREADY_HELD = "already_held"
    DENIED = "denied"  # the hard limit refused it
    SUPERSEDED = "superseded"  # a later event already decided this seat


@dataclass(frozen=True)
class SeatState:
    held: bool = False
    changed_by: str | None = None  # order key of the event that last changed the seat
    periods: tuple[tuple[str, str | None], ...] = field(default=())  # UTC [from, to) of each holding
    last_login: str | None = None  # the latest login seen (its timestamp or order key)

    def is_newer(self, order_key: str) -> bool:
        return self.changed_by is None or self.changed_by < order_key

    def claimed(self, order_key: str, at: str) -> SeatState:
        return replace(self, held=True, changed_by=order_key, periods=(*self.periods, (at, None)))

    def released(self, order_key: str, at: str) -> SeatState:
        closed = (*self.periods[:-1], (self.periods[-1][0], at)) if self.periods else ()
        return replace(self, held=False, changed_by=order_key, periods=closed)

    def after_login(self, order_key: str, at: str) -> SeatState:
        """A login takes a seat if it may, and is remembered either way."""
        state = self.claimed(order_key, at) if login_takes_seat(self, order_key) else self
        return replace(state, last_login=max(filter(None, (state.last_login, order_key))))

    def after_release(self, order_key: str, at: str) -> SeatState:
        """A deactivation or deletion frees a held seat; without one, it is remembered so that an
        older login arriving later does not take a seat the user no longer had."""
        if event_frees_seat(self, order_key):
            return self.released(order_key, at)
        if not self.held and self.is_newer(order_key):
            return replace(self, changed_by=order_key)
        return self


def login_takes_seat(state: SeatState, order_key: str) -> bool:
    """A login takes a seat unless the user holds one or a later event already released it."""
    return not state.held and state.is_newer(order_key)


def event_frees_seat(state: SeatState, order_key: str) -> bool:
    """A deactivation or deletion frees a held seat, unless a later event already decided it:
    a later claim, or a later login (which would have taken the seat again at once)."""
    later_login = state.last_login is not None and state.last_login > order_key
    return state.held and state.is_newer(order_key) and not later_login


def months_holding_seat(plan: Plan, periods: tuple[tuple[str, str | None], ...]) -> set[str]:
    """The plan months in which the user held a seat at any time (users CSV flags)."""
    months: list[PlanMonth] = plan_months(plan.start, plan.end)
    held: set[str] = set()
    for start_text, end_text in periods:
        start = parse_rfc3339(start_text)
        end = parse_rfc3339(end_text) if end_text else plan.end
        held.update(m.month for m in months if m.starts_at < end and start < m.ends_at)
    return held
