"""A per-organization request rate (issue 14, item 5): a fixed one-second window per organization
admits ``limit`` requests, and answers the rest 429 with Retry-After until the next second.

Which organization a request counts against: an API key's, or a token's ``org_id``. A vendor
admin names no organization and is not limited here: the API stage's own throttling bounds it,
as it bounds all callers together. Pure rules; the count itself is kept by store/rate_limits.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from license_usage.domain.access import Principal, Role

DEFAULT_REQUESTS_PER_SECOND = 200  # template.yaml's OrgRequestsPerSecond default
# A window's counter is kept a few minutes past its second, then DynamoDB's TTL removes it.
WINDOW_KEPT_FOR = timedelta(minutes=5)
RETRY_AFTER_SECONDS = 1  # the window ends within the second


@dataclass(frozen=True)
class RequestWindow:
    """One organization's requests in one epoch second, and how many it admits."""

    org_id: str
    second: int  # seconds since the epoch (UTC)
    limit: int

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.second, UTC) + WINDOW_KEPT_FOR

    def admits(self, requests_before: int) -> bool:
        """Whether a request that finds ``requests_before`` already counted in this window is let
        through (the store's conditional write is this test: ``requests < limit``)."""
        return requests_before < self.limit


def limited_organization(principal: Principal) -> str | None:
    """The organization a request counts against; None when the caller is not limited here."""
    if principal.role is Role.VENDOR_ADMIN:
        return None
    return principal.org_id


def request_window(org_id: str, now: datetime, limit: int) -> RequestWindow:
    """The window ``now`` falls in: its whole epoch second."""
    return RequestWindow(org_id=org_id, second=int(now.timestamp()), limit=limit)


def requests_per_second(setting: str | None) -> int:
    """``ORG_REQUESTS_PER_SECOND`` as a limit: a whole number of at least 1, the default when unset."""
    if setting is None or not setting.strip():
        return DEFAULT_REQUESTS_PER_SECOND
    try:
        limit = int(setting)
    except ValueError:
        raise ValueError(f"ORG_REQUESTS_PER_SECOND must be a whole number, not {setting!r}") from None
    if limit < 1:
        raise ValueError(f"ORG_REQUESTS_PER_SECOND must be at least 1, not {limit}")
    return limit
