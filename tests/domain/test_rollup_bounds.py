"""Issue 20's pure rules: every item the rollups and the users directory write has a size bound
computed from its fields' limits, below DynamoDB's 400 KB; what grows is cut into parts within a
byte budget; a quarantine's reason is bounded."""

from __future__ import annotations

import itertools
import random

import pytest

from license_usage.domain.directory import (
    DYNAMODB_ITEM_BYTES,
    MAX_ENTRIES_IN_USER_ITEM,
    entry_bytes_bound,
    entry_item_bytes_bound,
    user_item_bytes_bound,
)
from license_usage.domain.rollups import (
    MAX_REASON_CHARS,
    PART_BYTES,
    day_item_bytes_bound,
    denials_item_bytes_bound,
    json_bytes,
    quarantine_reason,
    report_item_bytes_bound,
    roles_item_bytes_bound,
    split_by_bytes,
)


@pytest.mark.parametrize(
    "bound",
    [
        user_item_bytes_bound,
        entry_item_bytes_bound,
        day_item_bytes_bound,
        roles_item_bytes_bound,
        report_item_bytes_bound,
        denials_item_bytes_bound,
    ],
)
def test_every_item_kind_is_bounded_below_dynamodbs_400_kb(bound: object) -> None:
    assert callable(bound)
    assert 0 < bound() < DYNAMODB_ITEM_BYTES


def test_a_user_item_bound_counts_its_entries_at_their_longest() -> None:
    # 50 roles of 64 characters of 4 bytes, a 1,024-byte group, a 156-byte order key: ~14 KB.
    assert 50 * 256 + 1024 + 156 < entry_bytes_bound() < 15_000
    assert user_item_bytes_bound() >= MAX_ENTRIES_IN_USER_ITEM * entry_bytes_bound()
    assert 2 * MAX_ENTRIES_IN_USER_ITEM * entry_bytes_bound() > DYNAMODB_ITEM_BYTES  # the cap is what bounds it


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_parts_keep_order_and_stay_within_their_budget(seed: int) -> None:
    rng = random.Random(seed)
    budget = rng.randrange(50, 500)
    items = [rng.randrange(1, budget + 40) for _ in range(rng.randrange(0, 300))]
    parts = split_by_bytes(items, lambda cost: cost, budget)
    assert [cost for part in parts for cost in part] == items
    for part in parts:
        assert sum(part) <= budget or len(part) == 1  # only an item over the budget alone exceeds it
        assert part
    for before, after in itertools.pairwise(parts):
        assert sum(before) + after[0] > budget  # a part is closed only when the next item does not fit


def test_nothing_to_split_gives_no_part_and_the_default_budget_is_part_bytes() -> None:
    assert split_by_bytes([], len) == []
    assert len(split_by_bytes(["x" * 1000] * 301, len)) == 2 == len(split_by_bytes(["x"] * (PART_BYTES + 1), len))


def test_json_bytes_measure_what_a_json_attribute_stores() -> None:
    assert json_bytes({"é": 1}) == len('{"\\u00e9": 1}')
    assert json_bytes({"\U0001f600": 1}) == len('{"\\ud83d\\ude00": 1}')  # 12 bytes for a 4-byte character


def test_a_quarantine_reason_names_the_step_and_the_error_and_is_cut_to_its_bound() -> None:
    assert quarantine_reason("day", ValueError("bad")) == "day: ValueError: bad"
    long = quarantine_reason("day", ValueError("\U0001f600" * 5000))
    assert len(long) == MAX_REASON_CHARS
    assert long.startswith("day: ValueError: ")
    assert long.endswith("…")
