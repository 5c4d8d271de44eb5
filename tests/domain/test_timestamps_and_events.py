"""SPEC §2 (all times UTC), §4 (event rules) and §6 (user status): the pure domain, no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from license_usage.domain.directory import DirectoryChange, directory_change
from license_usage.domain.events import (
    EVENT_TYPES,
    UsageEvent,
    missing_fields,
    timestamp_problem,
)
from license_usage.domain.plans import month_of
from license_usage.domain.timestamps import format_utc, format_utc_seconds, parse_rfc3339, utc_day

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RECEIVED = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def event(
    event_type: str,
    *,
    user_id: str | None = "u-1",
    roles: tuple[str, ...] | None = None,
    group: str | None = None,
    timestamp: datetime = NOW,
    event_id: str = "evt-1",
) -> UsageEvent:
    return UsageEvent(
        org_id="org-1",
        id=event_id,
        type=event_type,
        timestamp=timestamp,
        received_at=RECEIVED,
        user_id=user_id,
        roles=roles,
        group=group,
    )


# ---------------------------------------------------------------------------------------------
# SPEC §2: a timestamp with an offset is converted to UTC; the UTC instant decides day and month.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "instant", "month"),
    [
        pytest.param("2024-02-29T23:30:00-08:00", utc(2024, 3, 1, 7, 30), "2024-03", id="spec-example-leap-day-pst"),
        pytest.param("2024-03-01T07:30:00Z", utc(2024, 3, 1, 7, 30), "2024-03", id="already-utc"),
        pytest.param("2024-03-01t07:30:00z", utc(2024, 3, 1, 7, 30), "2024-03", id="lowercase-t-and-z"),
        pytest.param("2025-03-01T00:30:00+01:00", utc(2025, 2, 28, 23, 30), "2025-02", id="positive-offset-goes-back"),
        pytest.param("2025-06-15T05:45:00+05:45", utc(2025, 6, 15, 0, 0), "2025-06", id="nepal-offset"),
        pytest.param("2025-01-01T03:00:00+05:30", utc(2024, 12, 31, 21, 30), "2024-12", id="india-offset-new-year"),
        pytest.param("2025-07-04T12:00:00-00:00", utc(2025, 7, 4, 12, 0), "2025-07", id="unknown-local-offset"),
    ],
)
def test_timestamp_with_offset_is_converted_to_utc_and_counts_in_its_utc_month(
    text: str, instant: datetime, month: str
) -> None:
    parsed = parse_rfc3339(text)
    assert parsed == instant
    assert parsed.utcoffset() == timedelta(0)
    assert month_of(parsed) == month


def test_spec_example_login_counts_in_march_not_february() -> None:
    parsed = parse_rfc3339("2024-02-29T23:30:00-08:00")
    assert format_utc_seconds(parsed) == "2024-03-01T07:30:00Z"
    assert utc_day(parsed) == date(2024, 3, 1)
    assert month_of(parsed) == "2024-03"


@pytest.mark.parametrize(
    ("last_day", "next_day"),
    [
        pytest.param("2024-01-31", date(2024, 2, 1), id="jan-31-to-feb"),
        pytest.param("2024-02-29", date(2024, 3, 1), id="leap-feb-29-to-mar"),
        pytest.param("2025-02-28", date(2025, 3, 1), id="feb-28-to-mar"),
        pytest.param("2025-04-30", date(2025, 5, 1), id="apr-30-to-may"),
        pytest.param("2025-09-30", date(2025, 10, 1), id="sep-30-to-oct"),
        pytest.param("2024-12-31", date(2025, 1, 1), id="dec-31-2024-to-jan-2025"),
        pytest.param("2025-12-31", date(2026, 1, 1), id="dec-31-2025-to-jan-2026"),
    ],
)
def test_late_evening_pacific_on_a_months_last_day_counts_in_the_next_month(last_day: str, next_day: date) -> None:
    parsed = parse_rfc3339(f"{last_day}T23:30:00-08:00")
    assert parsed == datetime.combine(next_day, datetime.min.time(), UTC) + timedelta(hours=7, minutes=30)
    assert utc_day(parsed) == next_day
    assert month_of(parsed) == f"{next_day:%Y-%m}"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2024-03-01T07:30:00", id="no-offset"),
        pytest.param("2024-03-01T07:30:00.250", id="no-offset-with-fraction"),
        pytest.param("2024-03-01", id="date-only"),
        pytest.param("2024-03-01T07:30Z", id="no-seconds"),
        pytest.param("2024-03-01T07:30:00+0800", id="offset-without-colon"),
        pytest.param("2024-03-01T07:30:00+08", id="offset-hours-only"),
        pytest.param("2024-03-01T07:30:00 Z", id="space-before-z"),
        pytest.param("1709278200", id="epoch-seconds"),
        pytest.param("", id="empty"),
        pytest.param("2024-3-1T07:30:00Z", id="unpadded-date"),
    ],
)
def test_timestamp_without_utc_offset_or_not_rfc3339_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_rfc3339(text)


def test_timestamp_with_trailing_newline_is_rejected() -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_rfc3339("2024-03-01T07:30:00Z\n")


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        pytest.param("2025-05-05T10:00:00.5Z", utc(2025, 5, 5, 10, 0, 0, 500_000), id="one-digit"),
        pytest.param("2025-05-05T10:00:00.123Z", utc(2025, 5, 5, 10, 0, 0, 123_000), id="milliseconds"),
        pytest.param("2025-05-05T10:00:00.123456Z", utc(2025, 5, 5, 10, 0, 0, 123_456), id="microseconds"),
        pytest.param("2025-05-05T10:00:00.123456789Z", utc(2025, 5, 5, 10, 0, 0, 123_456), id="nanoseconds-truncated"),
        pytest.param("2025-05-05T10:00:00.000001Z", utc(2025, 5, 5, 10, 0, 0, 1), id="one-microsecond"),
        pytest.param("2024-02-29T23:59:59.999-08:00", utc(2024, 3, 1, 7, 59, 59, 999_000), id="fraction-and-offset"),
    ],
)
def test_fractional_seconds_are_kept_to_the_microsecond(text: str, instant: datetime) -> None:
    assert parse_rfc3339(text) == instant


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2026-02-29T12:00:00Z", id="feb-29-non-leap-year"),
        pytest.param("2028-02-30T12:00:00Z", id="feb-30-leap-year"),
        pytest.param("1900-02-29T12:00:00Z", id="feb-29-century-not-leap"),
        pytest.param("2025-04-31T12:00:00Z", id="apr-31"),
        pytest.param("2025-13-01T12:00:00Z", id="month-13"),
        pytest.param("2025-00-10T12:00:00Z", id="month-00"),
        pytest.param("2025-01-00T12:00:00Z", id="day-00"),
        pytest.param("2025-01-10T24:00:00Z", id="hour-24"),
        pytest.param("2025-01-10T12:60:00Z", id="minute-60"),
        pytest.param("2025-01-10T12:00:00+24:00", id="offset-24h"),
    ],
)
def test_timestamp_with_impossible_date_or_time_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="not a real date"):
        parse_rfc3339(text)


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        pytest.param("2028-02-29T12:00:00Z", utc(2028, 2, 29, 12), id="leap-day-2028"),
        pytest.param("2000-02-29T00:00:00Z", utc(2000, 2, 29), id="leap-day-2000-divisible-by-400"),
        pytest.param("2028-02-29T20:00:00-08:00", utc(2028, 3, 1, 4), id="leap-day-evening-pacific-is-march"),
    ],
)
def test_leap_day_is_accepted(text: str, instant: datetime) -> None:
    assert parse_rfc3339(text) == instant


@pytest.mark.parametrize(
    ("instant", "full", "seconds"),
    [
        pytest.param(
            utc(2024, 3, 1, 7, 30), "2024-03-01T07:30:00.000000Z", "2024-03-01T07:30:00Z", id="utc-whole-seconds"
        ),
        pytest.param(
            datetime(2024, 2, 29, 23, 30, 0, 250_000, tzinfo=timezone(timedelta(hours=-8))),
            "2024-03-01T07:30:00.250000Z",
            "2024-03-01T07:30:00Z",
            id="offset-converted-fraction-dropped",
        ),
    ],
)
def test_timestamps_are_formatted_in_utc(instant: datetime, full: str, seconds: str) -> None:
    assert format_utc(instant) == full
    assert format_utc_seconds(instant) == seconds


def test_stored_timestamps_sort_as_text_in_time_order() -> None:
    instants = [utc(2025, 1, 1, 0, 0, 0, 1), utc(2024, 12, 31, 23, 59, 59), utc(2025, 1, 1), utc(2025, 1, 1, 0, 0, 1)]
    assert sorted(format_utc(i) for i in instants) == [format_utc(i) for i in sorted(instants)]


# ---------------------------------------------------------------------------------------------
# SPEC §4: not more than 5 minutes in the future; not older than 400 days.
# ---------------------------------------------------------------------------------------------

MICRO = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("timestamp", "problem"),
    [
        pytest.param(NOW, None, id="now"),
        pytest.param(NOW + timedelta(minutes=4, seconds=59), None, id="4m59s-ahead"),
        pytest.param(NOW + timedelta(minutes=5), None, id="exactly-5-minutes-ahead"),
        pytest.param(NOW + timedelta(minutes=5) + MICRO, "is more than 5 minutes in the future", id="5m-plus-1us"),
        pytest.param(NOW + timedelta(minutes=6), "is more than 5 minutes in the future", id="6-minutes-ahead"),
        pytest.param(NOW + timedelta(days=1), "is more than 5 minutes in the future", id="one-day-ahead"),
        pytest.param(NOW - timedelta(days=1), None, id="yesterday"),
        pytest.param(NOW - timedelta(days=399, hours=23), None, id="just-under-400-days"),
        pytest.param(NOW - timedelta(days=400), None, id="exactly-400-days-old"),
        pytest.param(NOW - timedelta(days=400) - MICRO, "is older than 400 days", id="400-days-plus-1us"),
        pytest.param(NOW - timedelta(days=401), "is older than 400 days", id="401-days-old"),
    ],
)
def test_timestamp_problem_enforces_5_minute_future_and_400_day_age_limits(
    timestamp: datetime, problem: str | None
) -> None:
    assert timestamp_problem(timestamp, NOW) == problem


def test_event_types_are_exactly_the_thirteen_of_the_spec() -> None:
    assert (
        frozenset(
            {
                "user.login",
                "user.invited",
                "user.created",
                "user.activated",
                "user.deactivated",
                "user.reactivated",
                "user.deleted",
                "user.roles_changed",
                "ai.quality_check",
                "ai.suggest_alignment",
                "ai.suggest_goal",
                "feature.used",
                "license.refresh",
            }
        )
        == EVENT_TYPES
    )


# SPEC §3/§4: user_id for user.* and license.refresh; goal_id for quality_check and suggest_alignment;
# feature for feature.used; roles for user.roles_changed. ai.suggest_goal's quantity defaults to 1.
REQUIRED_FIELDS = [
    pytest.param("user.login", ["user_id"], id="user.login"),
    pytest.param("user.invited", ["user_id"], id="user.invited"),
    pytest.param("user.created", ["user_id"], id="user.created"),
    pytest.param("user.activated", ["user_id"], id="user.activated"),
    pytest.param("user.deactivated", ["user_id"], id="user.deactivated"),
    pytest.param("user.reactivated", ["user_id"], id="user.reactivated"),
    pytest.param("user.deleted", ["user_id"], id="user.deleted"),
    pytest.param("user.roles_changed", ["roles", "user_id"], id="user.roles_changed"),
    pytest.param("license.refresh", ["user_id"], id="license.refresh"),
    pytest.param("ai.quality_check", ["goal_id"], id="ai.quality_check"),
    pytest.param("ai.suggest_alignment", ["goal_id"], id="ai.suggest_alignment"),
    pytest.param("ai.suggest_goal", [], id="ai.suggest_goal"),
    pytest.param("feature.used", ["feature"], id="feature.used"),
]


@pytest.mark.parametrize(("event_type", "required"), REQUIRED_FIELDS)
def test_missing_fields_lists_what_each_event_type_requires(event_type: str, required: list[str]) -> None:
    assert missing_fields(event_type, set()) == required


@pytest.mark.parametrize(("event_type", "required"), REQUIRED_FIELDS)
def test_missing_fields_is_empty_when_the_required_fields_are_present(event_type: str, required: list[str]) -> None:
    assert missing_fields(event_type, set(required)) == []
    assert missing_fields(event_type, {"user_id", "goal_id", "feature", "roles", "quantity", "product"}) == []


@pytest.mark.parametrize(
    ("event_type", "present", "missing"),
    [
        pytest.param("user.roles_changed", {"user_id"}, ["roles"], id="roles-changed-without-roles"),
        pytest.param("user.roles_changed", {"roles"}, ["user_id"], id="roles-changed-without-user"),
        pytest.param("user.login", {"product", "goal_id"}, ["user_id"], id="login-with-unrelated-fields"),
        pytest.param("ai.quality_check", {"user_id"}, ["goal_id"], id="quality-check-user-is-not-goal"),
        pytest.param("feature.used", {"user_id", "product"}, ["feature"], id="feature-used-without-feature"),
        pytest.param("user.created", {"user_id"}, [], id="created-without-roles-is-complete"),
    ],
)
def test_missing_fields_with_some_fields_present(event_type: str, present: set[str], missing: list[str]) -> None:
    assert missing_fields(event_type, present) == missing


# ---------------------------------------------------------------------------------------------
# SPEC §6: status follows lifecycle events; roles come from user.created and user.roles_changed.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "status", "roles"),
    [
        pytest.param("user.invited", "invited", None, id="invited"),
        pytest.param("user.created", "active", ("admin", "coach"), id="created-active-with-roles"),
        pytest.param("user.activated", "active", None, id="activated"),
        pytest.param("user.reactivated", "active", None, id="reactivated"),
        pytest.param("user.deactivated", "deactivated", None, id="deactivated"),
        pytest.param("user.deleted", "deleted", None, id="deleted"),
        pytest.param("user.roles_changed", None, ("admin", "coach"), id="roles-changed-keeps-status"),
    ],
)
def test_directory_change_sets_status_after_each_lifecycle_event(
    event_type: str, status: str | None, roles: tuple[str, ...] | None
) -> None:
    ts = utc(2026, 2, 10, 9, 15)
    change = directory_change(event(event_type, roles=("admin", "coach"), group="north", timestamp=ts))
    assert change == DirectoryChange(
        user_id="u-1",
        order_key="2026-02-10T09:15:00.000000Z#evt-1",
        status=status,
        roles=roles,
        group="north",
    )


@pytest.mark.parametrize(
    "event_type",
    [
        pytest.param("user.login", id="login"),
        pytest.param("license.refresh", id="license-refresh"),
        pytest.param("feature.used", id="feature-used"),
        pytest.param("ai.quality_check", id="ai-quality-check"),
        pytest.param("ai.suggest_alignment", id="ai-suggest-alignment"),
        pytest.param("ai.suggest_goal", id="ai-suggest-goal"),
    ],
)
def test_logins_and_non_lifecycle_events_change_nothing_in_the_directory(event_type: str) -> None:
    assert directory_change(event(event_type, roles=("admin",), group="north")) is None


@pytest.mark.parametrize(
    "event_type",
    [
        pytest.param("user.invited", id="invited"),
        pytest.param("user.activated", id="activated"),
        pytest.param("user.reactivated", id="reactivated"),
        pytest.param("user.deactivated", id="deactivated"),
        pytest.param("user.deleted", id="deleted"),
    ],
)
def test_roles_are_taken_only_from_created_and_roles_changed(event_type: str) -> None:
    change = directory_change(event(event_type, roles=("admin",)))
    assert change is not None
    assert change.roles is None
    assert change.status is not None


def test_lifecycle_event_without_user_changes_nothing() -> None:
    assert directory_change(event("user.created", user_id=None, roles=("admin",))) is None


def test_roles_changed_without_roles_or_group_changes_nothing() -> None:
    assert directory_change(event("user.roles_changed", roles=None, group=None)) is None


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        pytest.param(
            event("user.created", timestamp=utc(2026, 1, 1, 9), event_id="zzz"),
            event("user.deleted", timestamp=utc(2026, 1, 1, 10), event_id="aaa"),
            id="instant-decides-before-id",
        ),
        pytest.param(
            event("user.created", timestamp=utc(2026, 1, 1, 9), event_id="a"),
            event("user.deleted", timestamp=utc(2026, 1, 1, 9), event_id="b"),
            id="same-instant-ordered-by-id",
        ),
        pytest.param(
            event("user.created", timestamp=utc(2026, 1, 1, 9, 0, 0, 999_999), event_id="x"),
            event("user.deleted", timestamp=utc(2026, 1, 1, 9, 0, 1), event_id="x"),
            id="microseconds-count",
        ),
    ],
)
def test_event_order_key_orders_by_instant_then_id(earlier: UsageEvent, later: UsageEvent) -> None:
    assert earlier.order_key < later.order_key


def test_event_day_is_its_utc_day() -> None:
    assert event("user.login", timestamp=parse_rfc3339("2024-02-29T23:30:00-08:00")).day == "2024-03-01"
