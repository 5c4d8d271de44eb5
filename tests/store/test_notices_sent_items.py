"""An organization's notices of no plan are sent once each without an item that grows with them
(issue 20): a scheduled report a period and a digest a week used to add a once key to one set on
``ORG#<org_id>`` / ``NOTIFIED``, which outgrows 400 KB in a few years of daily schedules. Each is now
an item of its own; the set an earlier version kept is still honoured. Against DynamoDB Local."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.store.test_bounded_items import item_bytes, partition_items
from usage_local.dynamodb_local import LocalDynamoDB

NOW = datetime.now(UTC).replace(microsecond=0)


def test_thousands_of_scheduled_report_notices_are_sent_once_each_in_items_of_their_own(
    dynamodb: LocalDynamoDB,
) -> None:
    from license_usage.domain.notifications import report_ready_notice
    from license_usage.store.keys import org_partition
    from license_usage.store.notifications import record_once

    org_id = "o" * 54 + uuid.uuid4().hex[:10]  # the longest organization id
    schedules = [f"sch_{n:020d}{uuid.uuid4().hex[:12]}" for n in range(10)]
    days = [(NOW.date() - timedelta(days=n)).isoformat() for n in range(300)]  # ten daily schedules, 300 days
    notices = [
        report_ready_notice(org_id, f"exp_{n:032d}", "users", day, schedule, NOW)
        for n, (schedule, day) in enumerate((s, d) for s in schedules for d in days)
    ]
    assert sum(len(notice.once_key.encode()) for notice in notices) > 100_000  # a set of them grows by this
    lease = NOW + timedelta(minutes=5)
    assert all(record_once(notice, lease) for notice in notices[:200])
    assert not any(record_once(notice, lease) for notice in notices[:200])  # once each
    items = [
        item for item in partition_items(dynamodb, org_partition(org_id)) if item["sk"]["S"].startswith("NOTIFIED")
    ]
    assert {item["once_key"]["S"] for item in items} == {notice.once_key for notice in notices[:200]}
    assert max(item_bytes(item) for item in items) <= 2 * 545 + 64 + 200  # its keys and its once key


def test_a_notice_an_earlier_version_recorded_in_its_set_is_not_sent_again(dynamodb: LocalDynamoDB) -> None:
    from license_usage.domain.notifications import report_ready_notice
    from license_usage.store.keys import org_notices_guard_key
    from license_usage.store.notifications import NoticeGuard, record_once

    org_id = f"legacy-{uuid.uuid4().hex[:8]}"
    earlier = report_ready_notice(org_id, "exp_1", "users", "2026-11-30", "sch_1", NOW)
    later = report_ready_notice(org_id, "exp_2", "users", "2026-12-01", "sch_1", NOW)
    NoticeGuard(*org_notices_guard_key(org_id), notices_sent={earlier.once_key}).save()
    lease = NOW + timedelta(minutes=5)
    assert not record_once(earlier, lease)
    assert record_once(later, lease)
    assert not record_once(later, lease)
    assert NoticeGuard.get(*org_notices_guard_key(org_id)).notices_sent == {earlier.once_key}  # no longer grows
