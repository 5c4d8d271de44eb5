"""Every key format of both tables, in one place.

``LicensingTable`` (pk, sk):
- ``ORG#<org_id>`` / ``PLAN#<plan_id>``: a plan; ``PLANGUARD#<product>#<type>``: its overlap guard;
  ``APIKEY#<key_id>``: an API key's listing; ``USER#<user_id>``: the users directory.
- ``APIKEY#<hash>`` / ``APIKEY``: an API key by its secret's hash.
- ``PLAN#<plan_id>`` / ``COUNTER``: seats in use; ``DAY#<YYYY-MM-DD>`` and ``MONTH#<YYYY-MM>``: the
  plan's tallies; ``USER#<user_id>``: what one user consumed (``domain.plan_user``).
- ``ORGS`` / ``ORG#<org_id>``: the registry of organizations.
- ``DIRTY`` / ``<org_id>#<day>``: days waiting for a rollup.
- ``NOTICES#<org_id>`` / ``<UTC time>#<notice id>``: the organization's notifications;
  ``OUTBOX`` / ``<notice id>``: notices stored but not yet published; ``ORG#<org_id>`` /
  ``NOTIFIED``: the once keys of the organization's notices that belong to no plan (a plan's are
  on its plan item); ``SUBSCRIPTIONS#<org_id>`` / ``<subscription id>``: email subscriptions.
- ``DAILY#<org_id>``, ``SEATHIST#<plan_id>``, ``ROLES#<org_id>``, ``REPORT#<org_id>``,
  ``ROLLUP#<org_id>``, ``ACTIVEDAYS#<org_id>``: what the rollups precompute; ``AUDIT#<org_id>``:
  the audit trail.

``EventsTable``: pk ``<org_id>#<event id>``; the ``by_day`` index: ``<org_id>#<YYYY-MM-DD>`` (and
``…#directory`` for lifecycle events), sorted by the order key ``<UTC timestamp>#<id>``."""

from __future__ import annotations

ORGS_PARTITION = "ORGS"
DIRTY_PARTITION = "DIRTY"
OVERDRAFT_PARTITION = "OVERDRAFT"
COUNTER_SK = "COUNTER"
OUTBOX_PARTITION = "OUTBOX"


def org_partition(org_id: str) -> str:
    return f"ORG#{org_id}"


def plan_key(org_id: str, plan_id: str) -> tuple[str, str]:
    return org_partition(org_id), f"PLAN#{plan_id}"  # PLAN_PREFIX


def plan_guard_key(org_id: str, product: str, plan_type: str) -> tuple[str, str]:
    return org_partition(org_id), f"PLANGUARD#{product}#{plan_type}"


def plan_partition(plan_id: str) -> str:
    return f"PLAN#{plan_id}"


def counter_key(plan_id: str) -> tuple[str, str]:
    return plan_partition(plan_id), COUNTER_SK


def month_key(plan_id: str, month: str) -> tuple[str, str]:
    return plan_partition(plan_id), f"MONTH#{month}"


def day_key(plan_id: str, day: str) -> tuple[str, str]:
    return plan_partition(plan_id), f"DAY#{day}"


USER_PREFIX = "USER#"


def plan_user_key(plan_id: str, user_id: str) -> tuple[str, str]:
    return plan_partition(plan_id), f"{USER_PREFIX}{user_id}"


def directory_user_key(org_id: str, user_id: str) -> tuple[str, str]:
    return org_partition(org_id), f"{USER_PREFIX}{user_id}"


def org_registry_key(org_id: str) -> tuple[str, str]:
    """``ORGS`` / ``ORG#<org_id>``."""
    return ORGS_PARTITION, f"ORG#{org_id}"


def dirty_day_key(org_id: str, day: str) -> tuple[str, str]:
    return DIRTY_PARTITION, f"{org_id}#{day}"


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


def roles_partition(org_id: str) -> str:
    return f"ROLES#{org_id}"


def rollup_meta_key(org_id: str) -> tuple[str, str]:
    return f"ROLLUP#{org_id}", "META"


def report_sections_key(org_id: str, window_name: str) -> tuple[str, str]:
    return f"REPORT#{org_id}", window_name


def event_key(org_id: str, event_id: str) -> str:
    return f"{org_id}#{event_id}"


def day_partition(org_id: str, day: str, directory: bool = False) -> str:
    """The ``by_day`` partition of an organization's UTC day. Directory (lifecycle) events have
    one of their own: the few events the users directory is built from, readable on their own."""
    return f"{org_id}#{day}#directory" if directory else f"{org_id}#{day}"


def day_partitions(org_id: str, day: str) -> tuple[str, str]:
    return day_partition(org_id, day), day_partition(org_id, day, directory=True)


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
