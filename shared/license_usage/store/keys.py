"""Every key format of both tables, in one place.

``LicensingTable`` (pk, sk):
- ``ORG#<org_id>`` / ``PLAN#<plan_id>``: a plan; ``PLANGUARD#<product>#<type>``: its overlap guard;
  ``APIKEY#<key_id>``: an API key's listing; ``USER#<user_id>``: the users directory.
- ``APIKEY#<hash>`` / ``APIKEY``: an API key by its secret's hash.
- ``PLAN#<plan_id>`` / ``COUNTER``: seats in use of a hard-limited seats plan (one item, so its
  condition holds under any concurrency), the overdraft flag and the assignment activity.
- ``PLAN#<plan_id>#<shard>`` (``PLAN_SHARDS`` of them, a user's shard from its id) / ``USER#<user_id>``:
  what one user consumed (``domain.plan_user``); ``DAY#<YYYY-MM-DD>`` and ``MONTH#<YYYY-MM>``: the
  shard's part of the plan's tallies; ``SEATS``: its part of seats in use (plans without a hard
  limit; it sorts after the tallies, so one range reads the months and it). A plan's counts are
  the sum over its shards: no one item takes every commit.
- ``ORGS`` / ``ORG#<org_id>``: the registry of organizations.
- ``DIRTY#<shard>`` (``DIRTY_SHARDS`` of them, an organization's shard from its id) /
  ``<org_id>#<day>``: days waiting for a rollup.
- ``NOTICES#<org_id>`` / ``<UTC time>#<notice id>``: the organization's notifications;
  ``OUTBOX`` / ``<notice id>``: notices stored but not yet published; ``ORG#<org_id>`` /
  ``NOTIFIED``: the once keys of the organization's notices that belong to no plan (a plan's are
  on its plan item); ``SUBSCRIPTIONS#<org_id>`` / ``<subscription id>``: email subscriptions.
- ``DAILY#<org_id>``, ``SEATHIST#<plan_id>``, ``SEATDENIED#<plan_id>``, ``ROLES#<org_id>``,
  ``REPORT#<org_id>``, ``ROLLUP#<org_id>``, ``ACTIVEDAYS#<org_id>``: what the rollups precompute;
  ``AUDIT#<org_id>``: the audit trail.
- ``VENDORINSIGHTS#<shard>`` (``INSIGHT_SHARDS``, an organization's shard from its id) /
  ``<rank text>``: the sparse index of expansion opportunities and renewals at risk (SPEC §11),
  in rank order; ``VENDORINSIGHTS`` / ``META``: when the daily rollup last wrote it;
  ``ORG#<org_id>`` / ``INSIGHTS``: which index entries an organization has, and the insight ids
  its digest sent.

``EventsTable``: pk ``<org_id>#<event id>``; the ``by_day`` index: ``<org_id>#<YYYY-MM-DD>#<shard>``
(``DAY_SHARDS`` of them, an event's shard from its id; readers merge them) and
``<org_id>#<YYYY-MM-DD>#directory`` for lifecycle events, sorted by the order key
``<UTC timestamp>#<id>``.

Shard counts bound what one partition key takes (AWS: 1,000 WCU/s and 3,000 RCU/s per key value,
a GSI's key too); ``bench/partitions.py`` measures them and BENCHMARKS.md (f) has the figures."""

from __future__ import annotations

import zlib

ORGS_PARTITION = "ORGS"
DIRTY_PARTITION = "DIRTY"
DIRTY_SHARDS = 32
DAY_SHARDS = 8
PLAN_SHARDS = 16
OVERDRAFT_PARTITION = "OVERDRAFT"
COUNTER_SK = "COUNTER"
OUTBOX_PARTITION = "OUTBOX"


def org_partition(org_id: str) -> str:
    return f"ORG#{org_id}"


def plan_key(org_id: str, plan_id: str) -> tuple[str, str]:
    return org_partition(org_id), f"PLAN#{plan_id}"  # PLAN_PREFIX


def plan_guard_key(org_id: str, product: str, plan_type: str) -> tuple[str, str]:
    return org_partition(org_id), f"PLANGUARD#{product}#{plan_type}"


def shard_of(text: str, shards: int) -> int:
    """A stable shard number in ``range(shards)`` (the same in every process, unlike ``hash``)."""
    return zlib.crc32(text.encode()) % shards


def plan_partition(plan_id: str) -> str:
    return f"PLAN#{plan_id}"


def plan_shard_partition(plan_id: str, shard: int) -> str:
    return f"PLAN#{plan_id}#{shard:02d}"


def plan_shard_partitions(plan_id: str) -> list[str]:
    return [plan_shard_partition(plan_id, shard) for shard in range(PLAN_SHARDS)]


def plan_of_shard_partition(partition: str) -> str:
    return partition.removeprefix("PLAN#").rsplit("#", 1)[0]


def user_shard(user_id: str) -> int:
    """The shard of a plan's partitions that holds one user's consumption and its tallies."""
    return shard_of(user_id, PLAN_SHARDS)


def counter_key(plan_id: str) -> tuple[str, str]:
    """The plan's one counter item (seats in use under a hard limit, the overdraft flag)."""
    return plan_partition(plan_id), COUNTER_SK


SHARD_COUNTER_SK = "SEATS"  # after ``DAY#…`` and ``MONTH#…``, before ``USER#…``


def shard_counter_key(plan_id: str, shard: int) -> tuple[str, str]:
    return plan_shard_partition(plan_id, shard), SHARD_COUNTER_SK


MONTH_PREFIX = "MONTH#"
DAY_PREFIX = "DAY#"


def month_key(plan_id: str, month: str, shard: int) -> tuple[str, str]:
    return plan_shard_partition(plan_id, shard), f"{MONTH_PREFIX}{month}"


def day_key(plan_id: str, day: str, shard: int) -> tuple[str, str]:
    return plan_shard_partition(plan_id, shard), f"{DAY_PREFIX}{day}"


USER_PREFIX = "USER#"


def plan_user_key(plan_id: str, user_id: str) -> tuple[str, str]:
    return plan_shard_partition(plan_id, user_shard(user_id)), f"{USER_PREFIX}{user_id}"


def directory_user_key(org_id: str, user_id: str) -> tuple[str, str]:
    return org_partition(org_id), f"{USER_PREFIX}{user_id}"


def org_registry_key(org_id: str) -> tuple[str, str]:
    """``ORGS`` / ``ORG#<org_id>``."""
    return ORGS_PARTITION, f"ORG#{org_id}"


def dirty_partition(org_id: str) -> str:
    return f"{DIRTY_PARTITION}#{shard_of(org_id, DIRTY_SHARDS):02d}"


def dirty_partitions() -> list[str]:
    return [f"{DIRTY_PARTITION}#{shard:02d}" for shard in range(DIRTY_SHARDS)]


def dirty_day_key(org_id: str, day: str) -> tuple[str, str]:
    return dirty_partition(org_id), f"{org_id}#{day}"


def activity_days_partition(org_id: str) -> str:
    """``ACTIVEDAYS#<org_id>`` / ``<YYYY-MM-DD>``: the days that hold events (the rollup keeps it)."""
    return f"ACTIVEDAYS#{org_id}"


PLAN_PREFIX = "PLAN#"
APIKEY_PREFIX = "APIKEY#"


def api_key_lookup_key(key_hash: str) -> tuple[str, str]:
    return f"{APIKEY_PREFIX}{key_hash}", "APIKEY"


def api_key_listing_key(org_id: str, key_id: str) -> tuple[str, str]:
    return org_partition(org_id), f"{APIKEY_PREFIX}{key_id}"


def audit_partition(org_id: str) -> str:
    return f"AUDIT#{org_id}"


def daily_partition(org_id: str) -> str:
    return f"DAILY#{org_id}"


def seat_swing_partition(plan_id: str) -> str:
    return f"SEATHIST#{plan_id}"


def seat_figures_key(plan_id: str) -> tuple[str, str]:
    """Beside the seat swings (``INSIGHTS`` sorts after every day, outside their ranges)."""
    return seat_swing_partition(plan_id), "INSIGHTS"


def seat_denials_partition(plan_id: str) -> str:
    return f"SEATDENIED#{plan_id}"


INSIGHT_SHARDS = 8
VENDOR_INSIGHTS_META_KEY = ("VENDORINSIGHTS", "META")


def vendor_insight_partition(org_id: str) -> str:
    return f"VENDORINSIGHTS#{shard_of(org_id, INSIGHT_SHARDS)}"


def vendor_insight_partitions() -> list[str]:
    return [f"VENDORINSIGHTS#{shard}" for shard in range(INSIGHT_SHARDS)]


def org_insights_key(org_id: str) -> tuple[str, str]:
    return org_partition(org_id), "INSIGHTS"


def roles_partition(org_id: str) -> str:
    return f"ROLES#{org_id}"


def rollup_meta_key(org_id: str) -> tuple[str, str]:
    return f"ROLLUP#{org_id}", "META"


def report_sections_key(org_id: str, window_name: str) -> tuple[str, str]:
    return f"REPORT#{org_id}", window_name


def event_key(org_id: str, event_id: str) -> str:
    return f"{org_id}#{event_id}"


def day_partition(org_id: str, day: str, entry_id: str) -> str:
    """The ``by_day`` partition of an organization's UTC day that holds one event (or activity
    entry), by its id."""
    return f"{org_id}#{day}#{shard_of(entry_id, DAY_SHARDS)}"


def directory_day_partition(org_id: str, day: str) -> str:
    """Directory (lifecycle) events have a partition of their own: the few events the users
    directory is built from, readable on their own."""
    return f"{org_id}#{day}#directory"


def day_partitions(org_id: str, day: str) -> list[str]:
    """Every partition of the day's events and activity entries, lifecycle events excluded."""
    return [f"{org_id}#{day}#{shard}" for shard in range(DAY_SHARDS)]


def notices_partition(org_id: str) -> str:
    return f"NOTICES#{org_id}"


def org_notices_guard_key(org_id: str) -> tuple[str, str]:
    return org_partition(org_id), "NOTIFIED"


def subscriptions_partition(org_id: str) -> str:
    return f"SUBSCRIPTIONS#{org_id}"


SCHEDULES_PARTITION = "SCHEDULES"


def exports_partition(org_id: str) -> str:
    """``EXPORTS#<org_id>`` / ``<export_id>``: an organization's exports (ids sort by creation)."""
    return f"EXPORTS#{org_id}"


def schedule_sort_key(org_id: str, schedule_id: str) -> str:
    """``SCHEDULES`` / ``<org_id>#<schedule_id>``: every report schedule, an organization's a prefix."""
    return f"{org_id}#{schedule_id}"


EXPORTS_PREFIX = "exports/"  # the bucket's lifecycle rule expires what is under it


def export_object_key(org_id: str, export_id: str, extension: str) -> str:
    """The export's object in the exports bucket, under its organization's prefix."""
    return f"{EXPORTS_PREFIX}{org_id}/{export_id}.{extension}"


def subscription_address_key(email: str) -> tuple[str, str]:
    """``SUBSCRIPTIONS`` / ``EMAIL#<address>``: which organization an address's one SNS
    subscription belongs to (SNS keeps one subscription per topic and address)."""
    return "SUBSCRIPTIONS", f"EMAIL#{email.lower()}"


def rate_window_key(org_id: str, epoch_second: int) -> tuple[str, str]:
    """``RATE#<org_id>#<epoch second>`` / ``RATE``: one organization's requests in one second. A key
    per second: each is written only within its second, then left to expire (``expires_at``)."""
    return f"RATE#{org_id}#{epoch_second}", "RATE"
