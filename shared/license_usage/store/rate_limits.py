"""The per-organization request counters (domain/rate_limits.py): one item per organization and
epoch second in the licensing table, counted up by one conditional UpdateItem per request."""

from __future__ import annotations

import os
from functools import cache

from pynamodb.attributes import NumberAttribute, TTLAttribute
from pynamodb.exceptions import UpdateError

from license_usage.domain.rate_limits import RequestWindow, requests_per_second
from license_usage.store.keys import rate_window_key
from license_usage.store.tables import LicensingItem, condition_failed


class RequestCounter(LicensingItem):
    """pk = ``RATE#<org_id>#<epoch second>``, sk = ``RATE``."""

    requests = NumberAttribute(null=True)
    expires_at = TTLAttribute(null=True)


@cache
def org_requests_per_second() -> int:
    """The limit from the function's environment (template parameter OrgRequestsPerSecond), read once."""
    return requests_per_second(os.environ.get("ORG_REQUESTS_PER_SECOND"))


def count_request(window: RequestWindow) -> bool:
    """Count one request in ``window`` unless it is full (``window.admits``, as the write's
    condition); False when it is. A refused request adds nothing, so the count stays the number of
    requests admitted. Failures of the call itself propagate (api/resolver.py decides on them)."""
    counter = RequestCounter(*rate_window_key(window.org_id, window.second))
    try:
        counter.update(
            actions=[RequestCounter.requests.add(1), RequestCounter.expires_at.set(window.expires_at)],
            condition=RequestCounter.requests.does_not_exist() | (RequestCounter.requests < window.limit),
        )
    except UpdateError as error:
        if condition_failed(error):
            return False
        raise
    return True
