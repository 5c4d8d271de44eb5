"""Every item the rollups and the users directory write stays below DynamoDB's 400 KB whatever an
organization sends (issue 20): each kind is written here at its worst case against DynamoDB
Local, measured as DynamoDB counts an item's size, compared with the bound computed from its
fields' limits, and read back whole. Then events with every field at the most any version of the
API stored go through ingest's store and the daily rollup, over a fixed list of seeds."""

from __future__ import annotations

import random
import string
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from usage_local.dynamodb_local import LocalDynamoDB

NOW = datetime.now(UTC).replace(microsecond=0)
ITEM_LIMIT = 400 * 1024
# Characters of 4 bytes in UTF-8 (emoji, CJK extension B): what makes 256 characters 1,024 bytes.
WIDE = [chr(code) for code in (*range(0x1F300, 0x1F5FF), *range(0x20000, 0x20400))]


def wide(rng: random.Random, chars: int) -> str:
    return "".join(rng.choice(WIDE) for _ in range(chars))


def new_org(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------------- DynamoDB's item size


def value_bytes(value: dict[str, Any]) -> int:
    """An attribute value's size as DynamoDB counts it (its documented rules, rounded up)."""
    (kind, content), *_ = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        return min(21, (len(content) + 1) // 2 + 1)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + value_bytes(element) for element in content)
    if kind == "M":
        return 3 + sum(1 + len(key.encode()) + value_bytes(element) for key, element in content.items())
    if kind in ("SS", "NS"):
        return 3 + sum(1 + len(str(element).encode()) for element in content)
    raise AssertionError(f"unexpected attribute type {kind}")


def item_bytes(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + value_bytes(value) for name, value in item.items())


def partition_items(local: LocalDynamoDB, pk: str) -> list[dict[str, Any]]:
    """Every item of one partition of the licensing table, as stored."""
    client, items, start = local.client(), [], None
    while True:
        page = client.query(
            TableName=local.names["LicensingTable"],
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
            **({"ExclusiveStartKey": start} if start else {}),
        )
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def assert_bounded(items: list[dict[str, Any]], bound: int) -> None:
    assert bound < ITEM_LIMIT
    sizes = {item["sk"]["S"][:40]: item_bytes(item) for item in items}
    assert all(size <= bound for size in sizes.values()), (bound, sizes)


# ---------------------------------------------------------------------- keys


def test_a_key_component_is_itself_up_to_512_bytes_and_a_prefix_and_a_digest_beyond() -> None:
    from license_usage.store.keys import KEY_PART_BYTES, directory_user_key, key_part

    rng = random.Random(7)
    for text in ("ann", "a" * 512, "é" * 256, wide(rng, 128), "x#y", ""):
        assert key_part(text) == text  # every id the API accepts keeps the key it always had
    long_ids = ["a" * 513, wide(rng, 256), wide(rng, 256), "é" * 300, "b" * 5000]
    encoded = [key_part(text) for text in long_ids]
    assert len(set(encoded)) == len(long_ids)
    for text, part in zip(long_ids, encoded, strict=True):
        assert KEY_PART_BYTES < len(part.encode()) <= 545  # never equal to a component kept as it is
        assert part == key_part(text)  # stable: it is part of stored keys
        assert part.split("~")[0] == text.encode()[: len(part.split("~")[0].encode())].decode()
    assert len(directory_user_key("org", wide(rng, 256))[1].encode()) <= 1024


# ---------------------------------------------------------------------- the users directory


def _roles(rng: random.Random) -> tuple[str, ...]:
    return tuple(f"{index:02d}" + wide(rng, 62) for index in range(50))  # 50 roles of 64 characters


def test_a_user_with_150_role_changes_of_50_roles_at_their_longest_keeps_every_item_below_400_kb(
    dynamodb: LocalDynamoDB,
) -> None:
    from license_usage.domain.directory import (
        MAX_ENTRIES_IN_USER_ITEM,
        DirectoryChange,
        LatestGroup,
        entry_item_bytes_bound,
        state_before,
        user_item_bytes_bound,
    )
    from license_usage.store.keys import org_partition
    from license_usage.store.users import (
        apply_directory_change,
        apply_directory_changes,
        settle_group,
        user_histories,
        users_by_id,
    )

    rng = random.Random(150)
    org_id = new_org("dir")
    user, other = wide(rng, 256), "ann"  # 1,024 bytes: an id earlier versions stored
    start = NOW - timedelta(days=3)

    def change(index: int, user_id: str) -> DirectoryChange:
        at = (start + timedelta(seconds=index)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        event_id = f"{index:04d}" + "e" * 124  # the longest event id
        return DirectoryChange(user_id, f"{at}#{event_id}", None, _roles(rng), wide(rng, 256))

    changes = [change(index, user) for index in range(150)]
    arrival = list(changes)
    rng.shuffle(arrival)  # late and out of order: the latest entry must decide whatever came first
    apply_directory_changes(org_id, arrival)  # as the rollup writes them
    for item in arrival[:5]:
        apply_directory_change(org_id, item)  # a rerun writes nothing new
    apply_directory_change(org_id, change(3, other))
    later = change(151, user)  # a login after every lifecycle event, with a group of its own
    settle_group(org_id, user, LatestGroup(later.order_key, later.group or ""))

    items = partition_items(dynamodb, org_partition(org_id))
    user_items = [item for item in items if item["sk"]["S"].startswith("USER#")]
    apart = [item for item in items if item["sk"]["S"].startswith("USERH#")]
    assert len(user_items) == 2
    [big] = [item for item in user_items if item["user_id"]["S"] == user]
    assert len(big["history"]["M"]) == MAX_ENTRIES_IN_USER_ITEM
    assert len(apart) == 150 - MAX_ENTRIES_IN_USER_ITEM
    assert_bounded(user_items, user_item_bytes_bound())
    assert_bounded(apart, entry_item_bytes_bound())

    histories = user_histories(org_id)
    assert sorted(entry.order_key for entry in histories[user]) == sorted(item.order_key for item in changes)
    assert [entry.order_key for entry in histories[other]] == [change(3, other).order_key]
    state = users_by_id(org_id, [user, other, "nobody"])
    latest = changes[-1]
    assert state[user].roles == latest.roles == state_before(changes).roles
    assert state[user].group == later.group  # SPEC §4: the group of the latest event carrying one
    assert set(state) == {user, other}


# ---------------------------------------------------------------------- a day's figures


def test_a_day_of_long_groups_and_ids_is_split_into_items_below_400_kb_and_read_back_whole(
    dynamodb: LocalDynamoDB,
) -> None:
    from license_usage.domain.rollups import DayFigures, GroupFigures, day_item_bytes_bound
    from license_usage.store.keys import daily_partition
    from license_usage.store.rollups import save_day_figures, stored_days

    rng = random.Random(5)
    org_id = new_org("day")
    groups = [wide(rng, 256) for _ in range(3)]  # 1,024 bytes each: too long for a sort key as such
    figures = DayFigures()
    figures.ai.quality_check.update(wide(rng, 256) for _ in range(400))
    for index, group in enumerate(groups):
        figures.groups[group] = GroupFigures(
            active_users={wide(rng, 256) for _ in range(300 * (index + 1))},
            session_ids={wide(rng, 128) for _ in range(300)},
            loose_logins=index,
            instance_ids={wide(rng, 128) for _ in range(300)},
        )
    save_day_figures(org_id, "2026-11-05", figures)
    assert_bounded(partition_items(dynamodb, daily_partition(org_id)), day_item_bytes_bound())

    days, by_group = stored_days(org_id, date(2026, 11, 5), date(2026, 11, 5))
    assert days[0].ai.quality_check == figures.ai.quality_check
    assert set(by_group) == set(groups)
    for group in groups:
        (stored,) = by_group[group]
        expected = figures.groups[group]
        assert set(stored.active_users) == expected.active_users
        assert set(stored.session_ids) == expected.session_ids
        assert set(stored.instance_ids) == expected.instance_ids
        assert stored.loose_logins == expected.loose_logins


def test_a_group_item_written_before_group_names_were_kept_reads_its_group_from_its_sort_key(
    dynamodb: LocalDynamoDB,
) -> None:
    from license_usage.store.keys import daily_partition
    from license_usage.store.rollups import DailyRecord, stored_days

    org_id = new_org("legacy")
    partition = daily_partition(org_id)
    DailyRecord(partition, "2026-11-05", added=1).save()
    DailyRecord(partition, "2026-11-05#G#north", active_users={"ann"}, loose_logins=2).save()
    DailyRecord(partition, "2026-11-05#P#0001#G#north", active_users={"bob"}).save()
    days, groups = stored_days(org_id, date(2026, 11, 5), date(2026, 11, 5))
    assert days[0].lifecycle["added"] == 1
    [north] = groups["north"]
    assert set(north.active_users) == {"ann", "bob"}
    assert north.loose_logins == 2


def test_a_day_that_refused_thousands_of_long_user_ids_keeps_one_item_below_400_kb(dynamodb: LocalDynamoDB) -> None:
    from license_usage.domain.rollups import DayEvent, day_figures, denials_item_bytes_bound
    from license_usage.store.keys import seat_denials_partition
    from license_usage.store.seat_swings import day_denials, save_day_denials

    rng = random.Random(9)
    plan_id = f"pln_{uuid.uuid4().hex[:16]}"
    events = [
        DayEvent(f"2026-11-05T00:00:{index % 60:02d}.000000Z#{index:04d}", "seat.denied", user_id, plan_id=plan_id)
        for index, user_id in enumerate(wide(rng, 256) for _ in range(2000))
    ]
    denials = day_figures(events, {}).seat_denials[plan_id]
    save_day_denials(plan_id, "2026-11-05", denials)
    assert_bounded(partition_items(dynamodb, seat_denials_partition(plan_id)), denials_item_bytes_bound())
    [stored] = day_denials(plan_id, date(2026, 11, 5), date(2026, 11, 5)).values()
    assert (stored.denials, stored.distinct_users, stored.user_ids) == (2000, 2000, denials.user_ids)


# ---------------------------------------------------------------------- roles and report sections


def test_a_day_of_thousands_of_long_roles_is_split_into_items_below_400_kb_and_read_back_whole(
    dynamodb: LocalDynamoDB,
) -> None:
    from license_usage.domain.rollups import roles_item_bytes_bound
    from license_usage.store.keys import roles_partition
    from license_usage.store.rollups import roles_at, save_roles

    rng = random.Random(11)
    org_id = new_org("roles")
    many = {wide(rng, 64): index + 1 for index in range(3000)}  # ~2.3 MB as JSON (escaped: 12 bytes each)
    few = {"coach": 2, "learner": 9}
    save_roles(org_id, {"2026-11-03": few, "2026-11-05": many, "2026-11-07": few}, "2026-11-01")
    assert len(partition_items(dynamodb, roles_partition(org_id))) > 4
    assert_bounded(partition_items(dynamodb, roles_partition(org_id)), roles_item_bytes_bound())
    assert roles_at(org_id, date(2026, 11, 2)) == {}
    assert roles_at(org_id, date(2026, 11, 4)) == few
    assert roles_at(org_id, date(2026, 11, 5)) == many
    assert roles_at(org_id, date(2026, 11, 6)) == many  # the latest snapshot at or before the day
    assert roles_at(org_id, date(2026, 11, 30)) == few

    save_roles(org_id, {"2026-11-05": few}, "2026-11-04")  # replaced: no part of the long day is left
    assert roles_at(org_id, date(2026, 11, 6)) == few
    assert len(partition_items(dynamodb, roles_partition(org_id))) == 2


def test_a_timeframe_of_thousands_of_long_groups_is_split_into_items_below_400_kb_and_read_back_whole(
    dynamodb: LocalDynamoDB,
) -> None:
    from license_usage.domain.rollups import (
        ActivitySections,
        AiActions,
        AiCounts,
        GroupConsumption,
        LifecycleCounts,
        UserActivity,
        report_item_bytes_bound,
    )
    from license_usage.domain.timeframes import resolve_window
    from license_usage.store.keys import report_sections_key
    from license_usage.store.rollups import precomputed_sections, rolled_up_sections, save_report_sections

    rng = random.Random(13)
    org_id = new_org("report")
    window = resolve_window("this_year", NOW.date())

    def sections(groups: int) -> ActivitySections:
        rows = [GroupConsumption(wide(rng, 256), 10**12, 10**15) for _ in range(groups)]
        activity, ai = UserActivity(LifecycleCounts(), []), AiActions(0, AiCounts(0, 0, 0), [])
        return ActivitySections(activity, sorted(rows, key=lambda r: r.group), ai)

    wide_sections = sections(1500)  # ~4.6 MB as JSON
    save_report_sections(org_id, {window: wide_sections})
    items = partition_items(dynamodb, report_sections_key(org_id, window.name)[0])
    assert len(items) > 10
    assert_bounded(items, report_item_bytes_bound())
    assert precomputed_sections(org_id, window) == wide_sections
    assert rolled_up_sections(org_id, window.name) == wide_sections

    narrow = sections(3)
    save_report_sections(org_id, {window: narrow})  # its parts of before are deleted
    assert len(partition_items(dynamodb, report_sections_key(org_id, window.name)[0])) == 1
    assert precomputed_sections(org_id, window) == narrow


# ---------------------------------------------------------------------- events at their limits, rolled up


def _events(org_id: str, seed: int) -> Iterator[Any]:
    """Events of every type with every field at the most any version of the API stored: ids of 256
    characters of 4 bytes (or 512 bytes, today's limit), 50 roles of 64 such characters, session
    and instance ids of 128, event ids of 128, properties of 4 KB; a few users and groups so that
    users have many lifecycle entries; over two days, in random order."""
    from license_usage.domain.events import EVENT_TYPES, UsageEvent

    rng = random.Random(seed)
    users = [wide(rng, 256), wide(rng, 128), "a" * 256, wide(rng, 256)]
    groups = [wide(rng, 256), wide(rng, 128), "g" * 256]
    goals = [wide(rng, 256) for _ in range(5)]
    id_chars = string.ascii_letters + string.digits + "._:-"
    for index in range(140):
        event_type = rng.choice(sorted(EVENT_TYPES - {"user.login"}) + ["user.login"] * 6)
        if index < 40:
            event_type = "user.roles_changed"  # one user's history grows past the item's room
        yield UsageEvent(
            org_id=org_id,
            id=f"{index:03d}" + "".join(rng.choice(id_chars) for _ in range(125)),
            type=event_type,
            timestamp=NOW - timedelta(hours=1 + rng.randrange(40), seconds=rng.randrange(3600)),
            received_at=NOW,
            user_id=users[0] if index < 40 else rng.choice(users),
            product="p" * 64,
            roles=_roles(rng) if event_type in ("user.created", "user.roles_changed") else None,
            goal_id=rng.choice(goals),
            quantity=1_000_000 if event_type == "ai.suggest_goal" else None,
            feature=wide(rng, 256),
            ip="1234:5678:9abc:def0:1234:5678:9abc:def0%" + "s" * 23,
            group=rng.choice(groups) if event_type == "user.login" or rng.random() < 0.7 else None,
            instance_id=wide(rng, 128),
            session_id=wide(rng, 128) if rng.random() < 0.5 else None,
            properties={"k": "v" * 4080},
        )


@pytest.mark.parametrize("seed", [20, 21, 22])
def test_events_with_every_field_at_its_limit_roll_up_into_bounded_items_with_exact_figures(
    dynamodb: LocalDynamoDB, seed: int
) -> None:
    from license_usage.domain.directory import state_before
    from license_usage.domain.events import USER_LIFECYCLE_TYPES
    from license_usage.domain.rollups import UNASSIGNED_GROUP, day_item_bytes_bound
    from license_usage.store.dirty_days import dirty_days_of, mark_days_dirty
    from license_usage.store.events import directory_changes, store_events
    from license_usage.store.keys import daily_partition
    from license_usage.store.rollups import stored_days
    from license_usage.store.users import users_by_id
    from license_usage.usecases.rollups import run_daily_rollup

    org_id = new_org(f"limits{seed}")
    events = list(_events(org_id, seed))
    assert all(stored.new for stored in store_events(events))
    days = sorted({event.day for event in events})
    mark_days_dirty(org_id, days, NOW)

    report = run_daily_rollup(NOW)
    assert [label for label in [*report.quarantined, *report.retry_later] if label.startswith(org_id)] == []
    assert dirty_days_of(org_id) == []
    assert {f"{org_id}/{day}" for day in days} <= set(report.days_rolled_up)
    assert_bounded(partition_items(dynamodb, daily_partition(org_id)), day_item_bytes_bound())

    # The directory, read back: each user's state is what their entries decide in time order.
    changes = directory_changes(org_id, days)
    by_user = defaultdict(list)
    for change in changes:
        by_user[change.user_id].append(change)
    directory = users_by_id(org_id, list(by_user))
    for user_id, history in by_user.items():
        assert directory[user_id].status == state_before(history).status
        assert directory[user_id].roles == state_before(history).roles

    # The days' figures: logins per group, lifecycle counts, goals checked.
    def group_of(event: Any) -> str:
        if event.group:
            return str(event.group)
        latest = [e for e in events if e.user_id == event.user_id and e.group]
        return str(max(latest, key=lambda e: e.order_key).group) if latest else UNASSIGNED_GROUP

    organization, groups = stored_days(org_id, date.fromisoformat(days[0]), date.fromisoformat(days[-1]))
    for day in days:
        of_day = [event for event in events if event.day == day]
        logins: dict[str, set[str]] = defaultdict(set)
        for event in of_day:
            if event.type == "user.login":
                logins[group_of(event)].add(str(event.user_id))
        stored_logins = {
            group: next(iter(s.active_users for s in stored if s.day.isoformat() == day), frozenset())
            for group, stored in groups.items()
        }
        assert {g: set(u) for g, u in stored_logins.items() if u} == dict(logins)
        [org_day] = [stored for stored in organization if stored.day.isoformat() == day]
        counted = Counter(event.type for event in of_day if event.type in USER_LIFECYCLE_TYPES)
        assert org_day.lifecycle["added"] == counted["user.created"]
        assert org_day.lifecycle["deleted"] == counted["user.deleted"]
        checked = {event.goal_id for event in of_day if event.type == "ai.quality_check"}
        assert org_day.ai.quality_check == checked
