"""Every key format of both tables, in one place.

``LicensingTable`` (pk, sk):
- ``ORG#<org_id>`` / ``PLAN#<plan_id>``: a plan; ``PLANGUARD#<product>#<type>``: its overlap guard;
  ``APIKEY#<key_id>``: an API key's listing; ``USER#<user_id>``: the users directory (a user's
  item), ``USERH#<user_id>#<order key>``: a lifecycle entry its item had no room for.
- ``APIKEY#<hash>`` / ``APIKEY``: an API key by its secret's hash.
- ``PLAN#<plan_id>`` / ``COUNTER``: seats in use of a hard-limited seats plan (one item, so its
  condition holds under any concurrency), the overdraft flag and the assignment activity.
- ``PLAN#<plan_id>#<shard>`` (``PLAN_SHARDS`` of them, a user's shard from its id) / ``USER#<user_id>``:
  what one user consumed (``domain.plan_user``), ``TIMELINE#<user_id>#<order key>``: a part of
  its marks that its item has no room for; ``DAY#<YYYY-MM-DD>`` and ``MONTH#<YYYY-MM>``: the
  shard's part of the plan's tallies; ``SEATS``: its part of seats in use (plans without a hard
  limit; it sorts after the tallies, so one range reads the months and it). A plan's counts are
  the sum over its shards: no one item takes every commit.
- ``ORGS`` / ``ORG#<org_id>``: the registry of organizations.
- ``DIRTY#<shard>`` (``DIRTY_SHARDS`` of them, an organization's shard from its id) /
  ``<org_id>#<day>``: days waiting for a rollup.
- ``NOTICES#<org_id>`` / ``<UTC time>#<notice id>``: the organization's notifications;
  ``OUTBOX`` / ``<notice id>``: notices stored but not yet published; ``ORG#<org_id>`` /
  ``NOTIFIED#<once key>``: a notice of the organization that belongs to no plan, sent (a plan's
  once keys are on its plan item; ``NOTIFIED``: earlier versions' set of them);
  ``SUBSCRIPTIONS#<org_id>`` / ``<subscription id>``: email subscriptions.
- ``DAILY#<org_id>``, ``SEATHIST#<plan_id>``, ``SEATDENIED#<plan_id>``, ``ROLES#<org_id>``,
  ``REPORT#<org_id>``, ``ROLLUP#<org_id>``, ``ACTIVEDAYS#<org_id>``: what the rollups precompute
  (``DAILY#<org_id>`` / ``<day>#G#<group>`` a group's day, ``<day>#P#<n>#…`` the parts of a day's
  ids that one item has no room for; ``ROLES#<org_id>`` / ``<day>#P#<n>`` and ``REPORT#<org_id>`` /
  ``P#<timeframe>#<n>`` the same for roles and report sections); ``AUDIT#<org_id>``: the audit trail.
- ``QUARANTINE`` / ``<org_id>#<scope>``: a day (``<YYYY-MM-DD>``) or a step of an organization
  (``organization``, ``settle:<step>``) the rollup could not do, with its reason, until a run does
  it (``store.quarantine``).
- ``VENDORINSIGHTS#<shard>`` (``INSIGHT_SHARDS``, an organization's shard from its id) /
  ``<rank text>``: the sparse index of expansion opportunities and renewals at risk (SPEC §11),
  in rank order; ``VENDORINSIGHTS`` / ``META``: when the daily rollup last wrote it;
  ``ORG#<org_id>`` / ``INSIGHTS#E#<rank text>``: one of an organization's entries there, and
  ``INSIGHTS#S#<insight id>``: one insight id its digest sent (``INSIGHTS``: both as sets, as
  earlier versions kept them; read, then emptied).

``EventsTable``: pk ``<org_id>#<event id>``; the ``by_day`` index: ``<org_id>#<YYYY-MM-DD>#<shard>``
(``DAY_SHARDS`` of them, an event's shard from its id; readers merge them) and
``<org_id>#<YYYY-MM-DD>#directory`` for lifecycle events, sorted by the order key
``<UTC timestamp>#<id>``.

**Key components are bounded in bytes.** DynamoDB refuses a partition key over 2,048 bytes and a
sort key over 1,024 bytes (UTF-8). Every component taken from outside (organization, user, group,
plan, key, export and schedule ids, products, e-mail addresses, event ids) goes through
``key_part``: a component of at most ``KEY_PART_BYTES`` (512) bytes is used as it is, so every key
of an id the API accepts (at most 256 characters, 512 bytes) is unchanged; a longer one (stored by
an earlier version, which limited characters, not bytes: 256 emoji are 1,024 bytes) becomes its
first 480 bytes (cut at a character boundary), ``~`` and the SHA-256 of the whole component in
hex: 542 to 545 bytes, so it never equals a component used as it is (those are at most 512 bytes)
and two long components share a key only if their SHA-256 does. The encoding is part of the
stored keys: never change it. Items keep the component itself in an attribute (``user_id``,
``org_id``, ``group_name``), so nothing is read back from an encoded key. The longest key this
gives is ``TIMELINE#<user>#<order key>``: 9 + 545 + 1 + 156 bytes. Shard numbers (``shard_of``) are
computed from the component itself, as before.

Shard counts bound what one partition key takes (AWS: 1,000 WCU/s and 3,000 RCU/s per key value,
a GSI's key too); ``bench/partitions.py`` measures them and BENCHMARKS.md (f) has the figures."""

from __future__ import annotations

import hashlib
import zlib

ORGS_PARTITION = "ORGS"
DIRTY_PARTITION = "DIRTY"
DIRTY_SHARDS = 32
DAY_SHARDS = 8
PLAN_SHARDS = 16
OVERDRAFT_PARTITION = "OVERDRAFT"
COUNTER_SK = "COUNTER"
OUTBOX_PARTITION = "OUTBOX"
QUARANTINE_PARTITION = "QUARANTINE"

KEY_PART_BYTES = 512  # a component up to this many UTF-8 bytes is used as it is
_KEPT_BYTES = 480  # of a longer one, this many bytes at most are kept before its digest


def key_part(text: str) -> str:
    """``text`` as a key component of at most 545 UTF-8 bytes: itself when it has at most
    ``KEY_PART_BYTES``; else its first bytes (whole characters), ``~`` and the SHA-256 of all of it
    (see the module's docstring)."""
    raw = text.encode()
    if len(raw) <= KEY_PART_BYTES:
        return text
    return f"{raw[:_KEPT_BYTES].decode(errors='ignore')}~{hashlib.sha256(raw).hexdigest()}"


def org_partition(org_id: str) -> str:
    return f"ORG#{key_part(org_id)}"


def plan_key(org_id: str, plan_id: str) -> tuple[str, str]:
    return org_partition(org_id), f"PLAN#{key_part(plan_id)}"  # PLAN_PREFIX


def plan_guard_key(org_id: str, product: str, plan_type: str) -> tuple[str, str]:
    return org_partition(org_id), f"PLANGUARD#{key_part(product)}#{key_part(plan_type)}"


def shard_of(text: str, shards: int) -> int:
    """A stable shard number in ``range(shards)`` (the same in every process, unlike ``hash``)."""
    return zlib.crc32(text.encode()) % shards


def plan_partition(plan_id: str) -> str:
    return f"PLAN#{key_part(plan_id)}"


def plan_shard_partition(plan_id: str, shard: int) -> str:
    return f"PLAN#{key_part(plan_id)}#{shard:02d}"


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
    return plan_shard_partition(plan_id, user_shard(user_id)), f"{USER_PREFIX}{key_part(user_id)}"


PLAN_USER_PART_PREFIX = "TIMELINE#"  # sorts after ``SEATS`` and before ``USER#``: no range of tallies or users reads it


def plan_user_parts_prefix(user_id: str) -> str:
    """The sort keys of the parts that keep a plan user's older marks (``store.plan_users``);
    another user's may share it (a user id may hold ``#``): parts carry their ``user_id``."""
    return f"{PLAN_USER_PART_PREFIX}{key_part(user_id)}#"


def plan_user_part_key(plan_id: str, user_id: str, first: str) -> tuple[str, str]:
    """The part of a plan user's marks that begins at order key ``first`` (the first part: ``""``)."""
    return plan_shard_partition(plan_id, user_shard(user_id)), f"{plan_user_parts_prefix(user_id)}{key_part(first)}"


def directory_user_key(org_id: str, user_id: str) -> tuple[str, str]:
    """A user's item in the users directory (``store.users``)."""
    return org_partition(org_id), f"{USER_PREFIX}{key_part(user_id)}"


DIRECTORY_ENTRY_PREFIX = "USERH#"  # sorts after every ``USER#…`` ('H' > '#')


def directory_entries_prefix(user_id: str) -> str:
    """The sort keys of a user's lifecycle entries kept apart from their item (``store.users``);
    another user's may share it (a user id may hold ``#``): items carry their ``user_id``."""
    return f"{DIRECTORY_ENTRY_PREFIX}{key_part(user_id)}#"


def directory_entry_key(org_id: str, user_id: str, order_key: str) -> tuple[str, str]:
    return org_partition(org_id), f"{directory_entries_prefix(user_id)}{key_part(order_key)}"


def org_registry_key(org_id: str) -> tuple[str, str]:
    """``ORGS`` / ``ORG#<org_id>``."""
    return ORGS_PARTITION, f"ORG#{key_part(org_id)}"


def dirty_partition(org_id: str) -> str:
    return f"{DIRTY_PARTITION}#{shard_of(org_id, DIRTY_SHARDS):02d}"


def dirty_partitions() -> list[str]:
    return [f"{DIRTY_PARTITION}#{shard:02d}" for shard in range(DIRTY_SHARDS)]


def dirty_day_key(org_id: str, day: str) -> tuple[str, str]:
    return dirty_partition(org_id), f"{key_part(org_id)}#{day}"


def activity_days_partition(org_id: str) -> str:
    """``ACTIVEDAYS#<org_id>`` / ``<YYYY-MM-DD>``: the days that hold events (the rollup keeps it)."""
    return f"ACTIVEDAYS#{key_part(org_id)}"


PLAN_PREFIX = "PLAN#"
APIKEY_PREFIX = "APIKEY#"


def api_key_lookup_key(key_hash: str) -> tuple[str, str]:
    return f"{APIKEY_PREFIX}{key_part(key_hash)}", "APIKEY"


def api_key_listing_key(org_id: str, key_id: str) -> tuple[str, str]:
    return org_partition(org_id), f"{APIKEY_PREFIX}{key_part(key_id)}"


def audit_partition(org_id: str) -> str:
    return f"AUDIT#{key_part(org_id)}"


def daily_partition(org_id: str) -> str:
    return f"DAILY#{key_part(org_id)}"


PART_MARK = "#P#"  # ``<day>#P#<n>…``: a part of a day's item that the item had no room for


def daily_sort_key(day: str, group: str | None) -> str:
    """``<day>`` (the organization's figures) or ``<day>#G#<group>`` (a group's)."""
    return day if group is None else f"{day}#G#{key_part(group)}"


def daily_part_sort_key(day: str, index: int, group: str | None) -> str:
    """``<day>#P#<nnnn>#D`` or ``<day>#P#<nnnn>#G#<group>``: the day's ids past its item's room."""
    return f"{day}{PART_MARK}{index:04d}#" + ("D" if group is None else f"G#{key_part(group)}")


def roles_part_sort_key(day: str, index: int) -> str:
    """``ROLES#<org_id>`` / ``<day>#P#<nnnn>``: the day's role counts past its item's room."""
    return f"{day}{PART_MARK}{index:04d}"


def seat_swing_partition(plan_id: str) -> str:
    return f"SEATHIST#{key_part(plan_id)}"


def seat_figures_key(plan_id: str) -> tuple[str, str]:
    """Beside the seat swings (``INSIGHTS`` sorts after every day, outside their ranges)."""
    return seat_swing_partition(plan_id), "INSIGHTS"


def seat_denials_partition(plan_id: str) -> str:
    return f"SEATDENIED#{key_part(plan_id)}"


INSIGHT_SHARDS = 8
VENDOR_INSIGHTS_META_KEY = ("VENDORINSIGHTS", "META")


def vendor_insight_partition(org_id: str) -> str:
    return f"VENDORINSIGHTS#{shard_of(org_id, INSIGHT_SHARDS)}"


def vendor_insight_partitions() -> list[str]:
    return [f"VENDORINSIGHTS#{shard}" for shard in range(INSIGHT_SHARDS)]


def org_insights_key(org_id: str) -> tuple[str, str]:
    return org_partition(org_id), "INSIGHTS"


ORG_INDEX_ENTRY_PREFIX = "INSIGHTS#E#"  # sorts after ``INSIGHTS``: one item per entry, its key the entry's
ORG_DIGEST_SENT_PREFIX = "INSIGHTS#S#"


def org_index_entry_key(org_id: str, rank_text: str) -> tuple[str, str]:
    """One of the organization's entries in the vendor's index, by its sort key there."""
    return org_partition(org_id), f"{ORG_INDEX_ENTRY_PREFIX}{key_part(rank_text)}"


def org_digest_sent_key(org_id: str, insight_id: str) -> tuple[str, str]:
    """One insight id the organization's digests sent."""
    return org_partition(org_id), f"{ORG_DIGEST_SENT_PREFIX}{key_part(insight_id)}"


def roles_partition(org_id: str) -> str:
    return f"ROLES#{key_part(org_id)}"


def rollup_meta_key(org_id: str) -> tuple[str, str]:
    return f"ROLLUP#{key_part(org_id)}", "META"


def report_sections_key(org_id: str, window_name: str) -> tuple[str, str]:
    return f"REPORT#{key_part(org_id)}", key_part(window_name)


REPORT_PARTS_RANGE = "P#"


def report_parts_prefix(window_name: str) -> str:
    """``REPORT#<org_id>`` / ``P#<timeframe>#<nnnn>``: a timeframe's groups past its item's room
    (a range of their own, so that finding them reads none of the sections)."""
    return f"{REPORT_PARTS_RANGE}{key_part(window_name)}#"


def report_part_key(org_id: str, window_name: str, index: int) -> tuple[str, str]:
    return report_sections_key(org_id, window_name)[0], f"{report_parts_prefix(window_name)}{index:04d}"


def quarantine_key(org_id: str, scope: str) -> tuple[str, str]:
    """``QUARANTINE`` / ``<org_id>#<scope>``: what the rollup could not do (``store.quarantine``)."""
    return QUARANTINE_PARTITION, f"{key_part(org_id)}#{scope}"


def event_key(org_id: str, event_id: str) -> str:
    return f"{key_part(org_id)}#{key_part(event_id)}"


def day_partition(org_id: str, day: str, entry_id: str) -> str:
    """The ``by_day`` partition of an organization's UTC day that holds one event (or activity
    entry), by its id."""
    return f"{key_part(org_id)}#{day}#{shard_of(entry_id, DAY_SHARDS)}"


def directory_day_partition(org_id: str, day: str) -> str:
    """Directory (lifecycle) events have a partition of their own: the few events the users
    directory is built from, readable on their own."""
    return f"{key_part(org_id)}#{day}#directory"


def day_partitions(org_id: str, day: str) -> list[str]:
    """Every partition of the day's events and activity entries, lifecycle events excluded."""
    return [f"{key_part(org_id)}#{day}#{shard}" for shard in range(DAY_SHARDS)]


def notices_partition(org_id: str) -> str:
    return f"NOTICES#{key_part(org_id)}"


def org_notices_guard_key(org_id: str) -> tuple[str, str]:
    """Earlier versions' set of the once keys of an organization's notices of no plan."""
    return org_partition(org_id), "NOTIFIED"


def org_notice_once_key(org_id: str, once_key: str) -> tuple[str, str]:
    """One notice of no plan that the organization was sent (a digest, a scheduled report)."""
    return org_partition(org_id), f"NOTIFIED#{key_part(once_key)}"


def subscriptions_partition(org_id: str) -> str:
    return f"SUBSCRIPTIONS#{key_part(org_id)}"


SCHEDULES_PARTITION = "SCHEDULES"


def exports_partition(org_id: str) -> str:
    """``EXPORTS#<org_id>`` / ``<export_id>``: an organization's exports (ids sort by creation)."""
    return f"EXPORTS#{key_part(org_id)}"


def schedule_sort_key(org_id: str, schedule_id: str) -> str:
    """``SCHEDULES`` / ``<org_id>#<schedule_id>``: every report schedule, an organization's a prefix."""
    return f"{key_part(org_id)}#{key_part(schedule_id)}"


EXPORTS_PREFIX = "exports/"  # the bucket's lifecycle rule expires what is under it


def export_object_key(org_id: str, export_id: str, extension: str) -> str:
    """The export's object in the exports bucket, under its organization's prefix."""
    return f"{EXPORTS_PREFIX}{key_part(org_id)}/{key_part(export_id)}.{extension}"


def subscription_address_key(email: str) -> tuple[str, str]:
    """``SUBSCRIPTIONS`` / ``EMAIL#<address>``: which organization an address's one SNS
    subscription belongs to (SNS keeps one subscription per topic and address)."""
    return "SUBSCRIPTIONS", f"EMAIL#{key_part(email.lower())}"


def rate_window_key(org_id: str, epoch_second: int) -> tuple[str, str]:
    """``RATE#<org_id>#<epoch second>`` / ``RATE``: one organization's requests in one second. A key
    per second: each is written only within its second, then left to expire (``expires_at``)."""
    return f"RATE#{key_part(org_id)}#{epoch_second}", "RATE"
