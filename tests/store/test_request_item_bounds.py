"""Items a request writes, at their worst case, under the bounds computed from their fields' limits
(issue 20; the table of docs/decisions.md, 2026-12-08, plan users and the other items): a plan with
every term at its longest (50 roles of 128 bytes, 20 thresholds, the longest price, product and
organization id) and every once key its notices can leave on it, created by a caller whose token
carries the longest subject, and its audit entry. Measured as DynamoDB counts an item's size."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from license_usage.domain.plans import Enforcement, Plan, PlanType
from tests.store.test_bounded_items import WIDE, item_bytes, partition_items
from usage_local.dynamodb_local import LocalDynamoDB

NOW = datetime.now(UTC).replace(microsecond=0)
NUMBER = 21  # DynamoDB's largest number, in bytes
ROLE_JSON = 2 + 64 * 6  # a role in JSON (ASCII escapes): 64 characters of at most 6 bytes (or 32 of 12)
SUBJECT_BYTES = 6144  # a JWT's subject: a token of at most 8,192 characters has a payload of 6,144 bytes
MONTHS = 13  # a plan lasts at most a year
# Once keys a plan can be left with: per plan month each threshold, overdraft, forecast and hard
# limit; four expiry notices, the expiry and the end of the grace.
ONCE_KEYS = MONTHS * (20 + 3) + 4 + 2
ONCE_KEY_BYTES = len("usage.forecast_exhaustion#1000#2026-01")


def plan_item_bound() -> int:
    """Keys (``ORG#<org>`` / ``PLAN#<plan>``), eleven texts of at most 64 bytes, three numbers, the
    roles, the thresholds and the once keys (a list or set: 3 bytes, and 1 more per element)."""
    keys = len("pk") + len("ORG#") + 64 + len("sk") + len("PLAN#") + 20
    names = sum(len(n) for n in ("plan_id", "org_id", "type", "product", "start", "end", "enforcement"))
    names += sum(len(n) for n in ("created_at", "renewed_from", "unit_price", "currency", "amount", "overdraft"))
    names += sum(len(n) for n in ("grace_days", "assign_roles", "notify_at", "notices_sent"))
    roles = 3 + 50 * (1 + 128)
    thresholds = 3 + 20 * (1 + NUMBER)
    once = 3 + ONCE_KEYS * (1 + ONCE_KEY_BYTES)
    return keys + names + 11 * 64 + 3 * NUMBER + roles + thresholds + once


def audit_item_bound() -> int:
    """Keys, ids and times, the actor (a JWT subject), action and target, and the plan as JSON before
    and after (its roles escaped at their longest)."""
    keys = len("pk") + len("AUDIT#") + 64 + len("sk") + 27 + 1 + 32
    fields = len("entry_id") + 32 + len("org_id") + 64 + len("at") + 27 + len("actor_role") + 12
    fields += len("actor") + SUBJECT_BYTES + len("action") + 32 + len("target") + 20 + 1 + 512
    plan_json = 50 * (ROLE_JSON + 2) + 1024  # the roles, and every other term with its name
    return keys + fields + len("before") + len("after") + 2 * plan_json


def test_a_plan_at_its_longest_with_every_once_key_and_its_audit_entry_stay_under_their_bounds(
    dynamodb: LocalDynamoDB,
) -> None:
    from license_usage.domain.access import Principal, Role
    from license_usage.domain.notifications import Notice, NoticeKind
    from license_usage.store.keys import audit_partition, plan_key
    from license_usage.store.plans import PlanRecord, get_plan, save_new_plan

    org_id = "o" * 54 + uuid.uuid4().hex[:10]
    roles = tuple(f"{n:02d}" + "".join(WIDE[(n * 31 + i) % len(WIDE)] for i in range(31)) for n in range(50))
    assert all(len(role.encode()) <= 128 for role in roles)
    plan = Plan(
        plan_id=f"pln_{uuid.uuid4().hex[:16]}",
        org_id=org_id,
        type=PlanType.MAU,
        product="p" * 64,
        amount=1_000_000_000,
        start=NOW - timedelta(days=30),
        end=NOW + timedelta(days=335),
        overdraft=1_000_000_000,
        enforcement=Enforcement.SOFT,
        grace_days=365,
        assign_roles=roles,
        notify_at=tuple(range(981, 1001)),
        unit_price="999999999999.9999",
        currency="CLF",
    )
    subject = "".join(WIDE[i % len(WIDE)] for i in range(SUBJECT_BYTES // 4))
    save_new_plan(plan, 0, Principal(Role.VENDOR_ADMIN, None, subject), NOW)

    months = [(NOW.replace(day=1) + timedelta(days=31 * n)).strftime("%Y-%m") for n in range(MONTHS)]
    usage: list[tuple[NoticeKind, int | None]] = [(NoticeKind.USAGE_THRESHOLD, t) for t in plan.notify_at]
    usage += [(k, None) for k in (NoticeKind.USAGE_OVERDRAFT, NoticeKind.USAGE_HARD_LIMIT)]
    usage += [(NoticeKind.USAGE_FORECAST_EXHAUSTION, None)]
    notices = [Notice(org_id, kind, plan.plan_id, t, NOW, "s", "m", period=m) for m in months for kind, t in usage]
    notices += [Notice(org_id, NoticeKind.PLAN_EXPIRING, plan.plan_id, d, NOW, "s", "m") for d in (90, 30, 7, 1)]
    notices += [Notice(org_id, k, plan.plan_id, None, NOW, "s", "m") for k in (NoticeKind.PLAN_EXPIRED,)]
    notices += [Notice(org_id, NoticeKind.PLAN_GRACE_ENDING, plan.plan_id, None, NOW, "s", "m")]
    keys = {notice.once_key for notice in notices}
    assert len(keys) == ONCE_KEYS
    assert max(len(key.encode()) for key in keys) <= ONCE_KEY_BYTES
    PlanRecord(*plan_key(org_id, plan.plan_id)).update(actions=[PlanRecord.notices_sent.add(keys)])

    [stored] = [i for i in partition_items(dynamodb, f"ORG#{org_id}") if i["sk"]["S"] == f"PLAN#{plan.plan_id}"]
    assert item_bytes(stored) <= plan_item_bound() < 32 * 1024
    assert get_plan(org_id, plan.plan_id).assign_roles == roles
    [entry] = partition_items(dynamodb, audit_partition(org_id))
    assert item_bytes(entry) <= audit_item_bound() < 64 * 1024
    assert json.loads(entry["after"]["S"])["assign_roles"] == list(roles)
