"""The scheduled rollups (SPEC §7): recompute exactly the days that received events since the
last run, so that reports read precomputed figures and a late event counts as if on time.

Nothing one organization sends stops the run for the others. Each organization's day, the steps
that span its days (claiming them, the users directory, last logins, roles: its ``organization``
scope) and each step settled after the days (``settle:<step>``) succeed or fail on their own; a
day that fails stays marked dirty (its claim given up), so the reports that cover it say
``aggregating`` until a run rolls it up. What failed is:

- left for the run's retry when trying again soon may work (throttled, 5xx, a timeout:
  ``store.tables.transient_failure``): the run raises ``RollupFailed`` after everything else,
  the vendor's index included, is done, and Lambda's retries (or the next run) redo what is left;
- otherwise quarantined (``store.quarantine``): recorded with its reason and counted in the
  ``RollupQuarantined`` metric, which is alarmed (docs/operations.md). The run succeeds. Every
  later run tries it again (the day is still dirty, the steps run for every organization), and the
  first that does it releases the quarantine; one whose day or organization no longer waits for
  anything is released too."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from functools import partial
from typing import Any

from aws_lambda_powertools import Logger

from license_usage.domain.directory import DirectoryChange, end_of_day_key, latest_groups, roles_distribution
from license_usage.domain.insights import denial_window, inactive_assignments, recent_denials
from license_usage.domain.plan_user import latest_logins
from license_usage.domain.plans import Enforcement, Plan, PlanType
from license_usage.domain.rollups import (
    ORGANIZATION_SCOPE,
    SETTLE_SCOPE_PREFIX,
    Quarantine,
    RecentDenials,
    SeatFigures,
    day_figures,
    quarantine_reason,
)
from license_usage.domain.timeframes import TIMEFRAMES, resolve_window
from license_usage.observability import record_rollup_lag, record_rollup_quarantined
from license_usage.store.dirty_days import DirtyDay, claim_dirty_day, clear_dirty_day, dirty_days, release_dirty_day
from license_usage.store.events import directory_changes, writer_pool
from license_usage.store.orgs import all_org_ids
from license_usage.store.plan_users import all_plan_users, settle_last_login
from license_usage.store.plans import plans_of_org, seat_changes_of_day, set_assignment_activity
from license_usage.store.quarantine import quarantine, quarantined, release_quarantine
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
from license_usage.store.tables import transient_failure
from license_usage.store.users import apply_directory_changes, settle_group, user_histories, users_by_id
from license_usage.usecases.counting import recount_days
from license_usage.usecases.insights import finish_vendor_refresh, refresh_vendor_insights
from license_usage.usecases.ports import Ports
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
    failed_orgs: list[str] = field(default_factory=list)  # something failed for them in this run
    quarantined: list[str] = field(default_factory=list)  # "<org_id>/<scope>" quarantined after the run
    released: list[str] = field(default_factory=list)  # "<org_id>/<scope>" whose quarantine the run released
    retry_later: list[str] = field(default_factory=list)  # "<org_id>/<scope>" that failed for now
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
            "quarantined": len(self.quarantined),
            "released": len(self.released),
            "retry_later": len(self.retry_later),
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
    apply_directory_changes(org_id, missing)
    for change in missing:
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
    """Something failed for now (throttled, 5xx, a timeout) for some organizations; every other
    one was rolled up and the vendor's index refreshed. Raised last, so Lambda's retries redo what
    is left (a rerun redoes exactly that)."""


_REPORT_LOCK = threading.Lock()
SETTLE_THREADS = 8  # organizations whose figures are settled side by side (each reads, nothing shared)


@dataclass
class _Run:
    """One run's bookkeeping of what failed, what it did and which quarantines it releases."""

    now: datetime
    report: RollupReport
    known: dict[tuple[str, str], Quarantine]  # quarantined before the run
    failed: set[tuple[str, str]] = field(default_factory=set)  # quarantined by this run
    visited: set[tuple[str, str]] = field(default_factory=set)  # still waiting, or tried by this run
    ports: Ports | None = None  # to count again the days an ingest left uncounted

    def attempt(self, org_id: str, scope: str, step: str, work: Callable[[], object]) -> bool:
        """Do ``work`` for ``scope`` of ``org_id``; a failure is logged and kept apart (quarantined,
        or left for the run's retry), never raised. Whether it succeeded."""
        with _REPORT_LOCK:
            self.visited.add((org_id, scope))
        try:
            work()
        except Exception as error:
            self._failed(org_id, scope, step, error)
            return False
        return True

    def _failed(self, org_id: str, scope: str, step: str, error: Exception) -> None:
        label = f"{org_id}/{scope}"
        if transient_failure(error):
            logger.warning(
                "rollup step failed for now", exc_info=True, extra={"org_id": org_id, "scope": scope, "step": step}
            )
            with _REPORT_LOCK:
                self.report.retry_later.append(label)
                if org_id not in self.report.failed_orgs:
                    self.report.failed_orgs.append(org_id)
            return
        reason = quarantine_reason(step, error)
        logger.exception("rollup quarantined", extra={"org_id": org_id, "scope": scope, "reason": reason})
        quarantine(org_id, scope, reason, self.now)
        with _REPORT_LOCK:
            self.failed.add((org_id, scope))
            if org_id not in self.report.failed_orgs:
                self.report.failed_orgs.append(org_id)

    def succeeded(self, org_id: str, scope: str) -> None:
        """``scope`` of ``org_id`` is done: release its quarantine, if it had one."""
        key = (org_id, scope)
        with _REPORT_LOCK:
            due = key in self.known and key not in self.failed and f"{org_id}/{scope}" not in self.report.released
        if due:
            release_quarantine(org_id, scope)
            with _REPORT_LOCK:
                self.report.released.append(f"{org_id}/{scope}")

    def step(self, org_id: str, scope: str, step: str, work: Callable[[], object]) -> bool:
        """``attempt``, then ``succeeded`` when it did."""
        done = self.attempt(org_id, scope, step, work)
        if done:
            self.succeeded(org_id, scope)
        return done

    def close(self) -> None:
        """Release the quarantines of what no longer waits for anything (a day no longer marked, an
        organization without a marked day or no longer registered), record how many remain."""
        for key in sorted(set(self.known) - self.visited):
            logger.info("quarantine released: nothing waits", extra={"org_id": key[0], "scope": key[1]})
            release_quarantine(*key)
            self.report.released.append(f"{key[0]}/{key[1]}")
        remaining = {f"{o}/{s}" for o, s in self.known} - set(self.report.released)
        remaining |= {f"{o}/{s}" for o, s in self.failed}
        self.report.quarantined = sorted(remaining)
        record_rollup_quarantined(len(remaining))


def _release(days: Iterable[DirtyDay]) -> None:
    """Give up the claims on days not rolled up (they stay marked). A claim that cannot be given up
    costs only writers' marks until the next run claims the day again: logged, not raised."""
    for dirty in days:
        try:
            release_dirty_day(dirty)
        except Exception:
            logger.warning("a claim could not be given up", exc_info=True, extra={"org_id": dirty.org_id})


def _settle_org(org_id: str, run: _Run) -> None:
    """What the daily run precomputes for every organization, after the days are rolled up: the
    named timeframes' report sections, the seat holders' activity and refusals, and (SPEC §11) the
    organization's entries in the vendor's insights index, from the figures just settled. Each
    step on its own (``settle:<step>``): one that fails costs the organization that step only."""
    now, report = run.now, run.report
    plans: list[Plan] = []  # read once, for the two steps that need them

    def index() -> None:
        entries = refresh_vendor_insights(org_id, plans, now)
        with _REPORT_LOCK:
            report.vendor_insight_entries += entries

    run.step(
        org_id, f"{SETTLE_SCOPE_PREFIX}reports", "report sections", lambda: precompute_named_timeframes(org_id, now)
    )
    if not run.step(org_id, f"{SETTLE_SCOPE_PREFIX}plans", "plans", lambda: plans.extend(plans_of_org(org_id))):
        with _REPORT_LOCK:  # waiting on the plans: neither done nor failed
            run.visited |= {(org_id, f"{SETTLE_SCOPE_PREFIX}seats"), (org_id, f"{SETTLE_SCOPE_PREFIX}index")}
        return
    run.step(
        org_id, f"{SETTLE_SCOPE_PREFIX}seats", "seat activity", lambda: refresh_inactive_assignments(plans, now, report)
    )
    run.step(org_id, f"{SETTLE_SCOPE_PREFIX}index", "vendor index", index)


def run_daily_rollup(now: datetime, ports: Ports | None = None) -> RollupReport:
    """``ports``: a day an ingest left uncounted (out of time, or died after storing) is counted
    again before it is read (the functions always pass them)."""
    report = RollupReport()
    run = _Run(now, report, {(q.org_id, q.scope): q for q in quarantined()}, ports=ports)
    by_org: dict[str, list[DirtyDay]] = defaultdict(list)
    for dirty in dirty_days():
        by_org[dirty.org_id].append(dirty)
    # What still waits, whatever happens to it in this run: its quarantine stays until it is done.
    run.visited |= {(org_id, ORGANIZATION_SCOPE) for org_id in by_org}
    run.visited |= {(org_id, dirty.day) for org_id, days in by_org.items() for dirty in days}
    for org_id, days in by_org.items():
        # Whatever escaped the organization's own steps (giving up claims, recording a failure).
        run.attempt(org_id, ORGANIZATION_SCOPE, "rollup", partial(_roll_up_org, org_id, days, run))
    rolled = {*report.days_rolled_up, *report.days_left_dirty}
    marks = (d.marked_at for days in by_org.values() for d in days if f"{d.org_id}/{d.day}" in rolled)
    report.lag_seconds = record_rollup_lag(now, marks)
    with ThreadPoolExecutor(max_workers=SETTLE_THREADS, thread_name_prefix="settle") as pool:
        list(pool.map(partial(_settle_org, run=run), all_org_ids()))
    finish_vendor_refresh(now)  # whatever failed: the index holds every other organization's entries
    run.close()
    if report.retry_later:
        raise RollupFailed(f"Rolled up all but {', '.join(report.retry_later)} (for now): {asdict(report)}")
    return report


def _roll_up_org(org_id: str, days: list[DirtyDay], run: _Run) -> None:
    """One organization's dirty days: its ``organization`` steps, then each day on its own. A day
    is cleared (and its quarantine released) only once every step of the organization is done."""
    report = run.report
    claimed: list[DirtyDay] = []
    read: dict[str, Any] = {}

    def prepare() -> None:
        # Claimed before anything is read; cleared only once the directory holds the days'
        # lifecycle entries, since until then readers take them from the days' events.
        claimed.extend(claim_dirty_day(dirty) for dirty in sorted(days, key=lambda d: d.day))
        changes = directory_changes(org_id, [dirty.day for dirty in claimed])
        histories = user_histories(org_id) if changes else {}
        if changes:
            report.directory_entries_written += update_directory(org_id, changes, histories)
        read.update(changes=changes, histories=histories, plans=plans_of_org(org_id))

    if not run.attempt(org_id, ORGANIZATION_SCOPE, "claims and users directory", prepare):
        _release(claimed)
        return
    uncounted = [dirty.day for dirty in claimed if dirty.uncounted]
    if uncounted and run.ports is not None:
        # Before any day is read: what an ingest stored but did not count (out of time, or died).
        count_again = partial(recount_days, run.ports, org_id, uncounted, read["plans"], run.now)
        if not run.attempt(org_id, ORGANIZATION_SCOPE, "uncounted days counted", count_again):
            _release(claimed)
            return
    settled = Settled()
    rolled: list[DirtyDay] = []
    # Newest first: a user's group is then written once per run, from their latest event.
    for dirty in sorted(claimed, key=lambda d: d.day, reverse=True):
        day_work = partial(roll_up_day, org_id, dirty.day, read["plans"], settled)
        if run.attempt(org_id, dirty.day, "day", day_work):
            rolled.append(dirty)

    def finish() -> None:
        report.last_logins_settled += settle_last_logins(settled)
        changes: list[DirectoryChange] = read["changes"]
        if changes:
            since = min(date.fromisoformat(change.order_key[:10]) for change in changes)
            recompute_roles(org_id, since, read["histories"])
            report.roles_recomputed.append(org_id)
        for dirty in rolled:
            label = f"{org_id}/{dirty.day}"
            (report.days_rolled_up if clear_dirty_day(dirty) else report.days_left_dirty).append(label)
        set_data_as_of(org_id, run.now)

    if not run.attempt(org_id, ORGANIZATION_SCOPE, "last logins, roles and marks", finish):
        _release(claimed)
        return
    _release(dirty for dirty in claimed if dirty not in rolled)
    run.succeeded(org_id, ORGANIZATION_SCOPE)
    for dirty in rolled:
        run.succeeded(org_id, dirty.day)


def precompute_named_timeframes(org_id: str, now: datetime) -> None:
    """A named timeframe's report then reads one item, whatever the volume of events (the day
    items it adds up grow with the distinct users and goals of each day)."""
    if not has_day_figures(org_id):
        return  # nothing to add up: the report's own fallback answers zeros as cheaply
    windows = [resolve_window(name, now.date()) for name in TIMEFRAMES if name != "custom"]
    save_report_sections(org_id, {window: activity_sections(org_id, window) for window in windows})


def run_monthly_rollup(now: datetime, ports: Ports | None = None) -> RollupReport:
    """After a month ends: roll up what is left of it. Month figures (peaks included) are read
    from the day tallies and seat swings, so nothing else needs settling."""
    return run_daily_rollup(now, ports)
