"""The scheduled rollups (SPEC §7): recompute exactly the days that received events since the
last run, so that reports read precomputed figures and a late event counts as if on time."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from functools import partial

from aws_lambda_powertools import Logger

from license_usage.domain.directory import DirectoryChange, end_of_day_key, latest_groups, roles_distribution
from license_usage.domain.insights import denial_window, inactive_assignments, recent_denials
from license_usage.domain.plan_user import latest_logins
from license_usage.domain.plans import Enforcement, Plan, PlanType
from license_usage.domain.rollups import RecentDenials, SeatFigures, day_figures
from license_usage.domain.timeframes import TIMEFRAMES, resolve_window
from license_usage.observability import record_rollup_lag
from license_usage.store.dirty_days import DirtyDay, claim_dirty_day, clear_dirty_day, dirty_days
from license_usage.store.events import directory_changes, writer_pool
from license_usage.store.orgs import all_org_ids
from license_usage.store.plan_users import all_plan_users, settle_last_login
from license_usage.store.plans import plans_of_org, seat_changes_of_day, set_assignment_activity
from license_usage.store.rollups import (
    day_events,
    has_day_figures,
    save_activity_day,
    save_day_figures,
    save_report_sections,
    save_roles,
    set_data_as_of,
)
from license_usage.store.seat_swings import day_denials, save_day_denials, save_seat_figures, save_seat_swing
from license_usage.store.users import apply_directory_change, settle_group, user_histories, users_by_id
from license_usage.usecases.insights import finish_vendor_refresh, refresh_vendor_insights
from license_usage.usecases.report import activity_sections

logger = Logger(child=True)


@dataclass
class RollupReport:
    days_rolled_up: list[str] = field(default_factory=list)  # "<org_id>/<day>"
    days_left_dirty: list[str] = field(default_factory=list)
    roles_recomputed: list[str] = field(default_factory=list)
    inactive_assignments: dict[str, int] = field(default_factory=dict)
    directory_entries_written: int = 0
    last_logins_settled: int = 0
    vendor_insight_entries: int = 0  # entries of the vendor's insights index after the run
    failed_orgs: list[str] = field(default_factory=list)
    lag_seconds: float | None = None  # age of the oldest dirty-day mark rolled up (None: none was)

    def counts(self) -> dict[str, object]:
        """The run's log line: counts, not the lists of days."""
        return {
            "days": len(self.days_rolled_up),
            "left_dirty": len(self.days_left_dirty),
            "lag_seconds": self.lag_seconds,
            "roles_recomputed": len(self.roles_recomputed),
            "directory_entries_written": self.directory_entries_written,
            "last_logins_settled": self.last_logins_settled,
            "vendor_insight_entries": self.vendor_insight_entries,
        }


@dataclass
class Settled:
    """What one run has settled per user so far (so a run over many days writes each once)."""

    groups: dict[str, str] = field(default_factory=dict)  # user → order key of the group written
    last_logins: dict[tuple[str, str], str] = field(default_factory=dict)  # (plan, user) → latest login

    def add_logins(self, latest: dict[tuple[str, str], str]) -> None:
        for key, order_key in latest.items():
            if self.last_logins.get(key, "") < order_key:
                self.last_logins[key] = order_key


def roll_up_day(org_id: str, day: str, plans: list[Plan], settled: Settled | None = None) -> Settled:
    """Recompute one organization's day from its events; gather its users' last logins (ingest
    writes nothing for a repeat login) for ``settle_last_logins``, and settle their groups."""
    settled = settled if settled is not None else Settled()
    seats_plans = [plan for plan in plans if plan.type is PlanType.SEATS]
    # Read before the entries: a seat change committed after this read makes the swing stale.
    versions = {plan.plan_id: seat_changes_of_day(plan.plan_id, day) for plan in seats_plans}
    events = list(day_events(org_id, day))
    # SPEC §4: a user's group is the one on their latest event that carries one.
    latest = latest_groups((e.order_key, e.user_id, e.group) for e in events)
    due = {user: group for user, group in latest.items() if settled.groups.get(user, "") < group.order_key}
    list(writer_pool().map(lambda item: settle_group(org_id, item[0], item[1]), due.items()))
    settled.groups.update({user: group.order_key for user, group in due.items()})
    # Logins and AI actions without a group of their own count in their user's group.
    ungrouped = sorted(
        {e.user_id for e in events if e.user_id and not e.group and e.type.startswith(("user.login", "ai."))}
    )
    groups = {user_id: user.group for user_id, user in users_by_id(org_id, ungrouped).items() if user.group}
    figures = day_figures(events, groups)
    save_day_figures(org_id, day, figures)
    save_activity_day(org_id, day, bool(events))
    for plan in seats_plans:
        swing = figures.seat_swings.get(plan.plan_id)
        # A day whose seat changes were all superseded by late events keeps no swing.
        save_seat_swing(plan.plan_id, day, replace(swing, version=versions[plan.plan_id]) if swing else None)
        if plan.enforcement is Enforcement.HARD:  # only a hard limit refuses
            save_day_denials(plan.plan_id, day, figures.seat_denials.get(plan.plan_id))
    logins = [(e.order_key, e.user_id, e.product) for e in events if e.type == "user.login" and e.user_id]
    settled.add_logins(latest_logins(logins, plans))
    return settled


def settle_last_logins(settled: Settled) -> int:
    """Write the run's latest login of each user and plan (forward only). Returns how many moved."""
    items = settled.last_logins.items()
    return sum(writer_pool().map(lambda item: settle_last_login(item[0][0], item[0][1], item[1]), items))


def update_directory(org_id: str, changes: list[DirectoryChange], histories: dict[str, list[DirectoryChange]]) -> int:
    """Write the lifecycle entries the users directory lacks (ingest stores the events only:
    until the rollup, readers add the entries of days still waiting), and add them to
    ``histories``, the directory as read before. Entries are idempotent. Returns how many."""
    known = {(user_id, entry.order_key) for user_id, history in histories.items() for entry in history}
    missing = [change for change in changes if (change.user_id, change.order_key) not in known]
    for change in missing:
        apply_directory_change(org_id, change)
        histories.setdefault(change.user_id, []).append(change)
    return len(missing)


def recompute_roles(org_id: str, since: date, histories: dict[str, list[DirectoryChange]]) -> None:
    """Role snapshots from ``since`` on, at the end of every day on which some user's status or
    roles changed (the users directory keeps each user's lifecycle history)."""
    change_days = {since} | {
        date.fromisoformat(entry.order_key[:10]) for history in histories.values() for entry in history
    }
    counts = {
        day.isoformat(): roles_distribution(list(histories.values()), end_of_day_key(day))
        for day in sorted(change_days)
        if day >= since
    }
    save_roles(org_id, counts, since.isoformat())


def refresh_inactive_assignments(plans: list[Plan], now: datetime, report: RollupReport) -> None:
    """SPEC §2: a seat held by a user with no login in the last 30 days; and for SPEC §11 the first
    100 of their holders, and the seats a hard-limited plan refused in the last 30 days."""
    for plan in plans:
        if plan.type is PlanType.SEATS and plan.covers(now):
            holders = [user for user in all_plan_users(plan.plan_id) if user.holds_seat]
            inactive = inactive_assignments(holders, now)
            hard = plan.enforcement is Enforcement.HARD  # only a hard limit refuses
            refused = recent_denials(day_denials(plan.plan_id, *denial_window(now)), now) if hard else RecentDenials()
            set_assignment_activity(plan.plan_id, inactive.count, len(holders) - inactive.count)
            save_seat_figures(plan.plan_id, SeatFigures(inactive.user_ids, refused))
            with _REPORT_LOCK:
                report.inactive_assignments[plan.plan_id] = inactive.count


class RollupFailed(RuntimeError):
    """Some organizations could not be rolled up; every other one was (the run fails after them,
    so the schedule's failure shows, and a rerun redoes exactly what is left)."""


def _each_org(org_ids: Iterable[str], report: RollupReport, work: Callable[[str], None]) -> None:
    for org_id in org_ids:
        _one_org(org_id, report, work)


def _one_org(org_id: str, report: RollupReport, work: Callable[[str], object]) -> bool:
    """Do one organization's ``work``; a failure is logged and reported, not raised. Whether it
    succeeded."""
    try:
        work(org_id)
    except Exception:
        logger.exception("rollup of an organization failed", extra={"org_id": org_id})
        with _REPORT_LOCK:
            if org_id not in report.failed_orgs:
                report.failed_orgs.append(org_id)
        return False
    return True


_REPORT_LOCK = threading.Lock()
SETTLE_THREADS = 8  # organizations whose figures are settled side by side (each reads, nothing shared)


def _settle_org(org_id: str, now: datetime, report: RollupReport) -> None:
    """What the daily run precomputes for every organization, after the days are rolled up: the
    named timeframes' report sections, the seat holders' activity and refusals, and (SPEC §11) the
    organization's entries in the vendor's insights index, from the figures just settled. Each
    step on its own: one that fails costs the organization that step only (the run then fails)."""

    plans: list[Plan] = []  # read once, for the two steps that need them

    def index(org: str) -> None:
        entries = refresh_vendor_insights(org, plans, now)
        with _REPORT_LOCK:
            report.vendor_insight_entries += entries

    _one_org(org_id, report, lambda org: precompute_named_timeframes(org, now))
    if not _one_org(org_id, report, lambda org: plans.extend(plans_of_org(org))):
        return
    _one_org(org_id, report, lambda _: refresh_inactive_assignments(plans, now, report))
    _one_org(org_id, report, index)


def run_daily_rollup(now: datetime) -> RollupReport:
    report = RollupReport()
    by_org: dict[str, list[DirtyDay]] = defaultdict(list)
    for dirty in dirty_days():
        by_org[dirty.org_id].append(dirty)
    _each_org(by_org, report, lambda org_id: _roll_up_org(org_id, by_org[org_id], now, report))
    rolled = {*report.days_rolled_up, *report.days_left_dirty}
    marks = (d.marked_at for days in by_org.values() for d in days if f"{d.org_id}/{d.day}" in rolled)
    report.lag_seconds = record_rollup_lag(now, marks)
    with ThreadPoolExecutor(max_workers=SETTLE_THREADS, thread_name_prefix="settle") as pool:
        list(pool.map(partial(_settle_org, now=now, report=report), all_org_ids()))
    if not report.failed_orgs:
        finish_vendor_refresh(now)
    if report.failed_orgs:
        raise RollupFailed(f"Rolled up all but {', '.join(report.failed_orgs)}: {asdict(report)}")
    return report


def _roll_up_org(org_id: str, days: list[DirtyDay], now: datetime, report: RollupReport) -> None:
    # Claimed before anything is read; cleared only once the directory holds the days'
    # lifecycle entries, since until then readers take them from the days' events.
    claimed = [claim_dirty_day(dirty) for dirty in sorted(days, key=lambda d: d.day)]
    changes = directory_changes(org_id, [dirty.day for dirty in claimed])
    histories = user_histories(org_id) if changes else {}
    if changes:
        report.directory_entries_written += update_directory(org_id, changes, histories)
    plans = plans_of_org(org_id)
    settled = Settled()
    # Newest first: a user's group is then written once per run, from their latest event.
    for dirty in sorted(claimed, key=lambda d: d.day, reverse=True):
        roll_up_day(org_id, dirty.day, plans, settled)
    report.last_logins_settled += settle_last_logins(settled)
    if changes:
        since = min(date.fromisoformat(change.order_key[:10]) for change in changes)
        recompute_roles(org_id, since, histories)
        report.roles_recomputed.append(org_id)
    for dirty in claimed:
        label = f"{org_id}/{dirty.day}"
        (report.days_rolled_up if clear_dirty_day(dirty) else report.days_left_dirty).append(label)
    set_data_as_of(org_id, now)


def precompute_named_timeframes(org_id: str, now: datetime) -> None:
    """A named timeframe's report then reads one item, whatever the volume of events (the day
    items it adds up grow with the distinct users and goals of each day)."""
    if not has_day_figures(org_id):
        return  # nothing to add up: the report's own fallback answers zeros as cheaply
    windows = [resolve_window(name, now.date()) for name in TIMEFRAMES if name != "custom"]
    save_report_sections(org_id, {window: activity_sections(org_id, window) for window in windows})


def run_monthly_rollup(now: datetime) -> RollupReport:
    """After a month ends: roll up what is left of it. Month figures (peaks included) are read
    from the day tallies and seat swings, so nothing else needs settling."""
    return run_daily_rollup(now)
