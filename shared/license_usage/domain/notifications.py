"""Notifications (SPEC §7): which notices a plan is due at an instant, what each one says, and
what "sent once" means. Pure: the use case brings the figures, the store the conditional write.

A notice is sent once per plan, kind and threshold (``once_key``); for a mau plan, whose amount is
an allowance per plan month, the usage notices are once per plan month as well (see
docs/decisions.md)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from license_usage.domain.consumption import FORECAST_WINDOW_DAYS, overage, utilization_pct
from license_usage.domain.plans import Plan, PlanStatus, PlanType, month_of, plan_months
from license_usage.domain.timestamps import add_capped, format_utc_seconds


class NoticeKind(StrEnum):
    PLAN_EXPIRING = "plan.expiring"
    PLAN_EXPIRED = "plan.expired"
    PLAN_GRACE_ENDING = "plan.grace_ending"
    USAGE_THRESHOLD = "usage.threshold"
    USAGE_OVERDRAFT = "usage.overdraft"
    USAGE_HARD_LIMIT = "usage.hard_limit"
    USAGE_FORECAST_EXHAUSTION = "usage.forecast_exhaustion"
    REPORT_READY = "report.ready"
    INSIGHTS_DIGEST = "insights.digest"


# SPEC §7: the weekly insights.digest is decided by a Monday's run (UTC), as weekly report schedules.
DIGEST_WEEKDAY = 0
# SPEC §7: plan.expiring 90, 30, 7 and 1 days before end; the nearest one reached is sent.
EXPIRING_DAYS = (90, 30, 7, 1)
# usage.forecast_exhaustion: the forecast date lies within this many days.
FORECAST_NOTICE_DAYS = 30
# plan.expired is sent while the plan ended at most this long ago (or while in grace): a first
# run over old plans is not a burst of stale notices.
EXPIRED_NOTICE_DAYS = 7
# plan.grace_ending: when at most this much grace is left (grace periods of a week or less: one day).
GRACE_ENDING_DAYS = 7
# mau: a month's forecast needs this many days of the month behind it.
MAU_FORECAST_MIN_DAYS = 7
SUBJECT_LIMIT = 99  # SNS: subjects of fewer than 100 characters


@dataclass(frozen=True)
class NoticeFigures:
    """The figures behind a notice (its ``data``); what does not apply to its kind is None."""

    plan_type: str | None = None
    product: str | None = None
    amount: int | None = None
    consumed: int | None = None
    utilization_pct: float | None = None
    overage: int | None = None
    seat_limit: int | None = None
    hard_limit: int | None = None
    month: str | None = None  # mau: the plan month the figures are of
    plan_start: str | None = None
    plan_end: str | None = None
    days_left: int | None = None
    grace_ends_at: str | None = None
    forecast_exhausted_on: date | None = None
    refused_user_id: str | None = None
    export_id: str | None = None
    report: str | None = None
    insight_ids: tuple[str, ...] | None = None  # insights.digest: the items it sends (SPEC §11)


@dataclass(frozen=True)
class Notice:
    org_id: str
    kind: NoticeKind
    plan_id: str | None
    threshold: int | None  # days for plan.expiring, percent for usage.threshold
    created_at: datetime
    subject: str
    message: str
    data: NoticeFigures = field(default_factory=NoticeFigures)
    period: str | None = None  # what else "once" is per (a mau plan month, an export's period)

    @property
    def once_key(self) -> str:
        """Kind, threshold and period: the same key means the same notice (sent once per plan)."""
        return f"{self.kind.value}#{'' if self.threshold is None else self.threshold}#{self.period or ''}"

    @property
    def notice_id(self) -> str:
        """Follows from what the notice is, so storing it twice cannot make two."""
        digest = hashlib.sha256(f"{self.org_id}\n{self.plan_id or ''}\n{self.once_key}".encode()).hexdigest()
        return f"ntf_{digest[:20]}"


@dataclass(frozen=True)
class UsageSnapshot:
    """A plan's consumption at an instant, and (daily runs) its forecast."""

    consumed: int
    forecast_exhausted_on: date | None = None
    forecast_known: bool = False  # ingest knows no forecast; the daily run does


# ---------------------------------------------------------------------- rules


def is_renewed(plan: Plan, plans: Iterable[Plan]) -> bool:
    """A plan renewed by the renewal call, or followed by a plan of the same product and type
    that starts at its end: it gets no expiry notices (SPEC §7)."""
    return any(
        other.plan_id != plan.plan_id
        and (
            other.renewed_from == plan.plan_id
            or (other.product, other.type, other.start) == (plan.product, plan.type, plan.end)
        )
        for other in plans
    )


def grace_end(plan: Plan) -> datetime:
    return add_capped(plan.end, timedelta(days=plan.grace_days))


def expiry_notices(plan: Plan, now: datetime, renewed: bool) -> list[Notice]:
    """plan.expiring (only the nearest threshold reached), plan.expired and plan.grace_ending."""
    if renewed:
        return []
    status = plan.status_at(now)
    notices = []
    if status is PlanStatus.CURRENT:
        left = plan.end - now
        reached = [days for days in EXPIRING_DAYS if left <= timedelta(days=days)]
        if reached:
            days = min(reached)
            notices.append(_plan_notice(plan, NoticeKind.PLAN_EXPIRING, days, now))
    elif status in (PlanStatus.GRACE, PlanStatus.PAST):
        if status is PlanStatus.GRACE or now - plan.end < timedelta(days=EXPIRED_NOTICE_DAYS):
            notices.append(_plan_notice(plan, NoticeKind.PLAN_EXPIRED, None, now))
        if status is PlanStatus.GRACE:
            warn = timedelta(days=GRACE_ENDING_DAYS if plan.grace_days > GRACE_ENDING_DAYS else 1)
            if grace_end(plan) - now <= warn:
                notices.append(_plan_notice(plan, NoticeKind.PLAN_GRACE_ENDING, None, now))
    return notices


def _threshold_reached(consumed: int, amount: int, percent: int) -> bool:
    return consumed * 100 >= percent * amount


def usage_notices(plan: Plan, snapshot: UsageSnapshot, now: datetime) -> list[Notice]:
    """usage.threshold (the highest threshold of ``notify_at`` reached: a jump past several is
    one notice), usage.overdraft (over the amount) and, with a forecast, usage.forecast_exhaustion."""
    if plan.status_at(now) is not PlanStatus.CURRENT:
        return []
    consumed = snapshot.consumed
    notices = []
    reached = [p for p in plan.notify_at if _threshold_reached(consumed, plan.amount, p)]
    if reached:
        notices.append(_usage_notice(plan, NoticeKind.USAGE_THRESHOLD, max(reached), snapshot, now))
    if consumed > plan.amount:
        notices.append(_usage_notice(plan, NoticeKind.USAGE_OVERDRAFT, None, snapshot, now))
    forecast = snapshot.forecast_exhausted_on
    if (
        snapshot.forecast_known
        and forecast is not None
        and consumed < plan.amount
        and forecast <= now.date() + timedelta(days=FORECAST_NOTICE_DAYS)
    ):
        notices.append(_usage_notice(plan, NoticeKind.USAGE_FORECAST_EXHAUSTION, None, snapshot, now))
    return notices


def hard_limit_notice(plan: Plan, seats_in_use: int, refused_user_id: str, now: datetime) -> Notice:
    """usage.hard_limit: a claim or login was refused a seat (once per plan)."""
    snapshot = UsageSnapshot(consumed=seats_in_use)
    return _usage_notice(plan, NoticeKind.USAGE_HARD_LIMIT, None, snapshot, now, refused_user_id)


def mau_month_forecast(plan: Plan, month_active: int, now: datetime) -> date | None:
    """mau: at this plan month's rate so far, the day its allowance runs out; None if not within
    the month (or the plan), or with fewer than ``MAU_FORECAST_MIN_DAYS`` of it behind."""
    month = next((m for m in plan_months(plan.start, plan.end) if m.starts_at <= now < m.ends_at), None)
    if month is None or month_active >= plan.amount or month_active <= 0:
        return None
    elapsed_days = (now - month.starts_at) / timedelta(days=1)
    if elapsed_days < MAU_FORECAST_MIN_DAYS:
        return None
    per_day = month_active / elapsed_days
    exhausted = now + timedelta(days=math.ceil((plan.amount - month_active) / per_day))
    return exhausted.date() if exhausted < month.ends_at else None


def digest_due(now: datetime) -> bool:
    """The weekly ``insights.digest`` is decided by the notification run of a Monday (UTC)."""
    return now.weekday() == DIGEST_WEEKDAY


def report_ready_notice(
    org_id: str, export_id: str, report: str, period: str, schedule_id: str, now: datetime
) -> Notice:
    """report.ready: a scheduled export finished (once per schedule and period)."""
    subject = subject_line(f"[{org_id}] Your scheduled {report} report for {period} is ready")
    message = "\n".join(
        [
            f"Organization: {org_id}",
            f"Report: {report}, period {period} (schedule {schedule_id})",
            f"Export: {export_id}",
            "",
            f"What to do: download it from the dashboard, or GET /v1/orgs/{org_id}/exports/{export_id} "
            "for a fresh link.",
        ]
    )
    return Notice(
        org_id=org_id,
        kind=NoticeKind.REPORT_READY,
        plan_id=None,
        threshold=None,
        created_at=now,
        subject=subject,
        message=message,
        data=NoticeFigures(export_id=export_id, report=report),
        period=f"{schedule_id}/{period}",
    )


# ---------------------------------------------------------------------- what a notice says


def subject_line(text: str) -> str:
    """One line of printable text, at most SNS's 100 characters."""
    line = "".join(c if c.isprintable() else " " for c in text)
    return line if len(line) <= SUBJECT_LIMIT else line[: SUBJECT_LIMIT - 1] + "…"


def _unit(plan: Plan) -> str:
    return {PlanType.SEATS: "seats", PlanType.MAU: "monthly active users", PlanType.MAUC: "credits"}[plan.type]


def _plan_label(plan: Plan) -> str:
    return f"{plan.product} {plan.type.value} plan"


def _period(plan: Plan) -> str:
    return f"{format_utc_seconds(plan.start)} to {format_utc_seconds(plan.end)} (UTC)"


def _plan_figures(plan: Plan) -> NoticeFigures:
    return NoticeFigures(
        plan_type=plan.type.value,
        product=plan.product,
        amount=plan.amount,
        plan_start=format_utc_seconds(plan.start),
        plan_end=format_utc_seconds(plan.end),
        hard_limit=plan.hard_limit if plan.type is PlanType.SEATS else None,
        seat_limit=plan.amount if plan.type is PlanType.SEATS else None,
    )


def _plan_notice(plan: Plan, kind: NoticeKind, days: int | None, now: datetime) -> Notice:
    label = _plan_label(plan)
    ends = format_utc_seconds(plan.end)
    grace_ends = format_utc_seconds(grace_end(plan))
    renew = f"POST /v1/orgs/{plan.org_id}/plans/{plan.plan_id}/renewal"
    if kind is NoticeKind.PLAN_EXPIRING:
        days_left = max(0, math.ceil((plan.end - now) / timedelta(days=1)))
        headline = f"{label} ends in {days_left} day{'s' if days_left != 1 else ''}, on {ends}"
        todo = f"renew it before it ends (the vendor's renewal call: {renew}) to keep counting without a gap."
    elif kind is NoticeKind.PLAN_EXPIRED:
        days_left = None
        headline = f"{label} ended on {ends}"
        todo = f"renew it ({renew}); logins after its end consume nothing." + (
            f" Its grace period runs until {grace_ends}." if plan.grace_days else ""
        )
    else:
        days_left = max(0, math.ceil((grace_end(plan) - now) / timedelta(days=1)))
        headline = f"{label}: grace period ends on {grace_ends}"
        todo = f"renew it now ({renew}); after the grace period the plan is past."
    message = "\n".join(
        [
            f"Organization: {plan.org_id}",
            f"Plan: {plan.plan_id} ({label}, {plan.amount} {_unit(plan)}), {_period(plan)}",
            headline + ".",
            "",
            f"What to do: {todo}",
        ]
    )
    data = replace(_plan_figures(plan), days_left=days_left, grace_ends_at=grace_ends if plan.grace_days else None)
    return Notice(
        org_id=plan.org_id,
        kind=kind,
        plan_id=plan.plan_id,
        threshold=days,
        created_at=now,
        subject=subject_line(f"[{plan.org_id}] {headline}"),
        message=message,
        data=data,
    )


def _usage_notice(
    plan: Plan,
    kind: NoticeKind,
    percent: int | None,
    snapshot: UsageSnapshot,
    now: datetime,
    refused_user_id: str | None = None,
) -> Notice:
    consumed = snapshot.consumed
    unit = _unit(plan)
    label = _plan_label(plan)
    pct = utilization_pct(consumed, plan.amount)
    month = month_of(now) if plan.type is PlanType.MAU else None
    scope = f" in {month}" if month else ""
    figures = f"{consumed:,} of {plan.amount:,} {unit}{scope} ({pct:g}%)"
    if kind is NoticeKind.USAGE_THRESHOLD:
        headline = f"{label} reached {percent}% of its amount: {figures}"
        todo = "check who uses it (the usage and users views) and plan more before it runs out."
    elif kind is NoticeKind.USAGE_OVERDRAFT:
        headline = f"{label} is over its amount by {overage(consumed, plan.amount):,} {unit}: {figures}"
        todo = "use above the amount is reported as overage; release unused seats or ask the vendor for more."
    elif kind is NoticeKind.USAGE_HARD_LIMIT:
        headline = f"{label} refused a seat: all {plan.hard_limit:,} seats (hard limit) are taken"
        todo = "release seats of inactive users (DELETE …/seats/{user_id}) or ask the vendor for a larger plan."
    else:
        on = snapshot.forecast_exhausted_on.isoformat() if snapshot.forecast_exhausted_on else "?"
        rate = (
            "this month's rate so far" if plan.type is PlanType.MAU else f"the last {FORECAST_WINDOW_DAYS} days' rate"
        )
        headline = f"{label} will run out on {on} at {rate}: {figures}"
        todo = "add to the plan before that date, or expect overage."
    lines = [
        f"Organization: {plan.org_id}",
        f"Plan: {plan.plan_id} ({label}, {plan.amount:,} {unit}), {_period(plan)}",
        f"Now: {figures}, as of {format_utc_seconds(now)}.",
        headline + ".",
    ]
    if refused_user_id is not None:
        lines.append(f"Refused user: {refused_user_id}")
    lines += ["", f"What to do: {todo}"]
    forecast = snapshot.forecast_exhausted_on if kind is NoticeKind.USAGE_FORECAST_EXHAUSTION else None
    data = replace(
        _plan_figures(plan),
        consumed=consumed,
        utilization_pct=pct,
        overage=overage(consumed, plan.amount),
        month=month,
        forecast_exhausted_on=forecast,
        refused_user_id=refused_user_id,
    )
    return Notice(
        org_id=plan.org_id,
        kind=kind,
        plan_id=plan.plan_id,
        threshold=percent,
        created_at=now,
        subject=subject_line(f"[{plan.org_id}] {headline}"),
        message="\n".join(lines),
        data=data,
        period=month,
    )


def not_sent(notices: Sequence[Notice], sent: Iterable[str]) -> list[Notice]:
    """The notices whose key is not among those already sent (a cheap filter; the store's
    conditional write is what decides)."""
    done = set(sent)
    return [notice for notice in notices if notice.once_key not in done]


@dataclass(frozen=True)
class NoticeView:
    """A notice as the API lists it and the bus carries it (SPEC §7: ``detail`` is the stored
    notification): one shape for both."""

    id: str
    org_id: str
    kind: str
    plan_id: str | None
    threshold: int | None
    created_at: str
    subject: str
    message: str
    data: NoticeFigures


def notice_view(notice: Notice) -> NoticeView:
    return NoticeView(
        id=notice.notice_id,
        org_id=notice.org_id,
        kind=notice.kind.value,
        plan_id=notice.plan_id,
        threshold=notice.threshold,
        created_at=format_utc_seconds(notice.created_at),
        subject=notice.subject,
        message=notice.message,
        data=notice.data,
    )


def notice_json(notice: Notice) -> str:
    """The view as JSON text, exactly as the API lists it."""
    view = asdict(notice_view(notice))
    view["data"] = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in view["data"].items()}
    return json.dumps(view, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------------- email subscriptions

EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"


def filter_policy(org_id: str, kinds: Sequence[NoticeKind]) -> str:
    """The SNS filter policy of an organization's subscriber: its own notices only (SPEC §5), of
    the chosen kinds if any. It matches the ``org_id`` and ``kind`` message attributes."""
    return address_filter_policy({org_id: [kind.value for kind in kinds]})


# SNS's bound on a filter policy: at most 150 combinations of values (for "$or", the sum of its
# branches' own). It bounds how many organizations one address takes notices of, and so the size
# of the address's item (store/subscriptions.py).
MAX_POLICY_COMBINATIONS = 150
# The policy of an address no organization subscribes (any more): every notice carries ``org_id``,
# so none matches. Set before the subscription is removed, and on a new one until its first
# organization's policy is set.
NO_NOTICES_POLICY = json.dumps({"org_id": [{"exists": False}]})


class TooManyOrganizations(ValueError):
    """One address would take the notices of more organizations than one SNS policy can name."""


def address_filter_policy(orgs: Mapping[str, Sequence[str]]) -> str:
    """The filter policy of an address's one SNS subscription (SNS keeps one subscription per topic
    and address, whichever organization subscribes it): the notices of each organization in
    ``orgs``, of the kinds it chose (all when none). Organizations that chose the same kinds share
    one branch; one organization's policy is ``filter_policy``'s."""
    if not orgs:
        return NO_NOTICES_POLICY
    by_kinds: dict[tuple[str, ...], list[str]] = {}
    for org_id, kinds in orgs.items():
        by_kinds.setdefault(tuple(sorted(set(kinds))), []).append(org_id)
    branches: list[dict[str, list[str]]] = []
    combinations = 0
    for kinds, org_ids in sorted(by_kinds.items()):
        branch = {"org_id": sorted(org_ids)}
        if kinds:
            branch["kind"] = list(kinds)
        branches.append(branch)
        combinations += len(org_ids) * max(1, len(kinds))
    if combinations > MAX_POLICY_COMBINATIONS:
        raise TooManyOrganizations(
            f"One address takes the notices of at most {MAX_POLICY_COMBINATIONS} organizations and kinds."
        )
    return json.dumps(branches[0] if len(branches) == 1 else {"$or": branches}, sort_keys=True)


def subscription_id(org_id: str, email: str) -> str:
    """One subscription per organization and address (subscribing again updates its kinds)."""
    return "sub_" + hashlib.sha256(f"{org_id}\n{email.lower()}".encode()).hexdigest()[:16]
