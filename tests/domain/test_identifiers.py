"""SPEC §4, §5 and issue 20: the rules of identifiers (domain/identifiers.py), and what they bound:
every key built from ids at their limits stays well under DynamoDB's, an event at every field's
limit is far under an item's 400 KB, and no export object key has a ``.`` or ``..`` segment."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from license_usage.domain import identifiers
from license_usage.domain.events import (
    MAX_PROPERTIES_BYTES,
    MAX_STORED_EVENT_BYTES,
    UsageEvent,
    stored_event_bytes,
)
from license_usage.domain.exports import EXPORT_ID_PATTERN
from license_usage.domain.identifiers import (
    DYNAMODB_ITEM_BYTES,
    DYNAMODB_PARTITION_KEY_BYTES,
    DYNAMODB_SORT_KEY_BYTES,
    is_org_id,
    is_path_segment,
    user_id_problem,
    utf8_bytes,
)
from license_usage.store import keys

EMOJI = "\U0001f600"
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "user_id",
    ["ann", "ann@example.com", "a b", "a" * 256, "\u00e9" * 256, EMOJI * 128, "\u4e2d\u6587", "x%2Fy"],
)
def test_a_user_id_within_the_rule_is_taken(user_id: str) -> None:
    assert user_id_problem(user_id) is None


@pytest.mark.parametrize(
    "user_id",
    [
        "",
        "a" * 257,
        EMOJI * 129,  # 129 characters, 516 bytes
        EMOJI * 256,  # 256 characters, 1,024 bytes: the sort key over DynamoDB's limit
        "a\x00b",
        "a\x1bb",
        "a\nb",
        "a\tb",
        "a\x0bb",
        "a\x7fb",
        "a\xa0b",  # no-break space
        "a\u200bb",  # zero-width space
        "a\u2028b",  # line separator
        "a\ud800b",  # half a character
    ],
)
def test_a_user_id_outside_the_rule_is_refused_with_the_rule_as_its_message(user_id: str) -> None:
    assert user_id_problem(user_id) == "must be 1 to 256 printable characters, at most 512 bytes in UTF-8"


def test_bytes_are_counted_in_utf8() -> None:
    assert utf8_bytes("abc") == 3
    assert utf8_bytes("\u00e9") == 2
    assert utf8_bytes(EMOJI) == 4
    assert utf8_bytes("\ud800") == 3


@pytest.mark.parametrize("org_id", ["a", "acme", "acme-1", "acme.eu", ".a", "a.", "a..b", "_", "-", "x" * 64])
def test_an_organization_id_within_the_pattern_is_taken(org_id: str) -> None:
    assert is_org_id(org_id)


@pytest.mark.parametrize("org_id", ["", ".", "..", "...", "." * 64, "x" * 65, "a/b", "a#b", "a b", "\u00e9", "a\n"])
def test_an_organization_id_of_dots_or_outside_the_pattern_is_refused(org_id: str) -> None:
    assert not is_org_id(org_id)


@given(st.from_regex(identifiers.ORG_ID_PATTERN, fullmatch=True), st.from_regex(EXPORT_ID_PATTERN, fullmatch=True))
def test_no_export_object_key_has_a_dot_segment(org_id: str, export_id: str) -> None:
    if not is_org_id(org_id):
        return  # over 64 characters
    object_key = keys.export_object_key(org_id, export_id, "csv")
    segments = object_key.split("/")
    assert segments[0] == "exports"
    assert all(is_path_segment(segment) for segment in segments)


@pytest.mark.parametrize("segment", ["", ".", "..", "a/b"])
def test_dot_segments_and_slashes_are_not_path_segments(segment: str) -> None:
    assert not is_path_segment(segment)


ORG = "o" * identifiers.MAX_ORG_ID_BYTES
USER = EMOJI * (identifiers.USER_ID.max_bytes // 4)
PRODUCT = "p" * identifiers.MAX_PRODUCT_BYTES
EVENT_ID = "e" * identifiers.MAX_EVENT_ID_BYTES
PLAN_ID = "pln_" + "0" * 16
KEY_ID = "key_" + "0" * 16


def test_the_bounds_are_bytes_at_their_character_limits() -> None:
    assert utf8_bytes(USER) == identifiers.USER_ID.max_bytes
    assert len(USER) <= identifiers.USER_ID.max_chars
    assert user_id_problem(USER) is None
    assert len(PLAN_ID) == identifiers.MAX_PLAN_ID_BYTES
    assert len(KEY_ID) == identifiers.MAX_KEY_ID_BYTES


@pytest.mark.parametrize(
    "key",
    [
        keys.plan_key(ORG, PLAN_ID),
        keys.plan_guard_key(ORG, PRODUCT, "seats"),
        keys.plan_user_key(PLAN_ID, USER),
        keys.directory_user_key(ORG, USER),
        keys.api_key_listing_key(ORG, KEY_ID),
        keys.org_registry_key(ORG),
        keys.dirty_day_key(ORG, "2026-03-01"),
        (keys.SCHEDULES_PARTITION, keys.schedule_sort_key(ORG, "sch_" + "0" * 32)),
        keys.rate_window_key(ORG, 2_000_000_000),
        keys.subscription_address_key(EMOJI * 64 + "@" + "d" * 185 + ".com"),
        (keys.event_key(ORG, EVENT_ID), f"2026-03-01T12:00:00.000000Z#{EVENT_ID}"),
        (keys.day_partition(ORG, "2026-03-01", EVENT_ID), "x"),
        (keys.export_object_key(ORG, "exp_" + "0" * 32, "xlsx"), "x"),
    ],
)
def test_every_key_made_of_ids_at_their_bounds_is_well_under_dynamodbs_limits(key: tuple[str, str]) -> None:
    partition, sort = key
    assert utf8_bytes(partition) <= DYNAMODB_PARTITION_KEY_BYTES // 2
    assert utf8_bytes(sort) <= DYNAMODB_SORT_KEY_BYTES * 3 // 4


def _event_at_every_limit() -> UsageEvent:
    role = EMOJI * (identifiers.ROLE.max_bytes // 4)
    # Compact JSON of MAX_PROPERTIES_BYTES made mostly of separators: stored with a space after each.
    properties = {"n": [0] * ((MAX_PROPERTIES_BYTES - 8) // 2)}
    return UsageEvent(
        org_id=ORG,
        id=EVENT_ID,
        type="user.login",
        timestamp=AT,
        received_at=AT,
        user_id=USER,
        product=PRODUCT,
        roles=(role,) * identifiers.MAX_ROLES,
        goal_id=EMOJI * (identifiers.GOAL_ID.max_bytes // 4),
        quantity=1_000_000,
        feature=EMOJI * (identifiers.FEATURE.max_bytes // 4),
        ip="f" * identifiers.MAX_IP_BYTES,
        group=EMOJI * (identifiers.GROUP.max_bytes // 4),
        instance_id=EMOJI * (identifiers.INSTANCE_ID.max_bytes // 4),
        session_id=EMOJI * (identifiers.SESSION_ID.max_bytes // 4),
        properties=properties,
        source=KEY_ID,
    )


def test_an_event_at_every_fields_limit_is_within_the_stored_bound_far_under_an_item() -> None:
    event = _event_at_every_limit()
    assert stored_event_bytes(event) <= MAX_STORED_EVENT_BYTES
    assert MAX_STORED_EVENT_BYTES * 10 < DYNAMODB_ITEM_BYTES


def test_an_event_over_the_stored_bound_is_measured_over_it() -> None:
    event = _event_at_every_limit()
    bigger = UsageEvent(**{**event.__dict__, "properties": {"n": "x" * MAX_STORED_EVENT_BYTES}})
    assert stored_event_bytes(bigger) > MAX_STORED_EVENT_BYTES
