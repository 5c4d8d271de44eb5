"""The dirty-day protocol against DynamoDB Local: a writer marks a day after its writes, the
rollup claims it before reading and clears it only if nobody marked it meanwhile."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from usage_local.dynamodb_local import LocalDynamoDB

NOW = datetime.now(UTC)


def test_a_mark_waiting_for_its_rollup_is_not_written_again(dynamodb: LocalDynamoDB) -> None:
    from license_usage.store.dirty_days import dirty_days_of, mark_days_dirty

    org = f"org-{uuid.uuid4().hex[:8]}"
    mark_days_dirty(org, ["2026-11-01", "2026-11-02"], NOW)
    mark_days_dirty(org, ["2026-11-01"], NOW)
    assert sorted(dirty_days_of(org)) == ["2026-11-01", "2026-11-02"]
    from license_usage.store.dirty_days import dirty_days

    marks = {d.day: d.marks for d in dirty_days() if d.org_id == org}
    assert marks == {"2026-11-01": 1, "2026-11-02": 1}


def test_a_claimed_day_marked_again_is_not_cleared_and_loses_its_claim(dynamodb: LocalDynamoDB) -> None:
    from license_usage.store.dirty_days import claim_dirty_day, clear_dirty_day, dirty_days, mark_days_dirty

    org = f"org-{uuid.uuid4().hex[:8]}"
    mark_days_dirty(org, ["2026-11-03"], NOW)
    (waiting,) = [d for d in dirty_days() if d.org_id == org]
    claimed = claim_dirty_day(waiting)
    mark_days_dirty(org, ["2026-11-03"], NOW)  # claimed: the writer marks again
    assert not clear_dirty_day(claimed)  # so the rollup must not clear it
    (again,) = [d for d in dirty_days() if d.org_id == org]
    assert again.marks == 2
    assert clear_dirty_day(claim_dirty_day(again))  # the next rollup claims afresh and clears
    assert [d for d in dirty_days() if d.org_id == org] == []
