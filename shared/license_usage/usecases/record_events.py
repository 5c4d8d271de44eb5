"""Recording accepted usage events (SPEC §4): store each new id once, then count what it means
(``usecases/counting.py``: ``count``, then ``finish``).

Counting runs for resends too: it is idempotent per event, so a resend of an event that was
stored but not counted (the function died in between) completes its count, and a resend of one
that was counted changes nothing and writes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from license_usage.domain.counting import countings_of_events
from license_usage.domain.errors import DomainError
from license_usage.domain.events import MAX_STORED_EVENT_BYTES, UsageEvent, stored_event_bytes
from license_usage.domain.plan_user import RELEASING_EVENT_TYPES, ROLE_EVENT_TYPES
from license_usage.domain.plans import implied_product
from license_usage.faults import fault_point
from license_usage.observability import record_ingest
from license_usage.usecases.counting import count, finish
from license_usage.usecases.ports import Ports

TYPES_THAT_CONSUME = RELEASING_EVENT_TYPES | ROLE_EVENT_TYPES | {"user.login"}


@dataclass(frozen=True)
class RefusedEvent:
    index: int
    event_id: str
    field: str
    message: str


@dataclass(frozen=True)
class RecordedEvents:
    accepted: int
    duplicates: int
    refused: list[RefusedEvent]


def record_events(
    ports: Ports,
    org_id: str,
    events: Sequence[tuple[int, UsageEvent]],
    now: datetime,
    *,
    invalid: int = 0,
    deadline: float | None = None,
) -> RecordedEvents:
    """Store the events durably, then count them.

    ``events`` pairs each valid event with its index in the request, for the refusals a rule
    that needs the organization's plans can still make (an omitted, ambiguous product);
    ``invalid``: how many of the request's events the API refused before (for the metrics);
    ``deadline`` (``time.monotonic()``): what is not counted by then is left for the rollup (the
    answer still says what was durably stored)."""
    needs_plans = any(event.type in TYPES_THAT_CONSUME for _, event in events)
    plans = ports.plans.of_org(org_id) if needs_plans else []
    kept: list[UsageEvent] = []
    refused: list[RefusedEvent] = []
    for index, event in events:
        # Everything is checked before the first write: a batch never stops halfway.
        if stored_event_bytes(event) > MAX_STORED_EVENT_BYTES:
            refused.append(RefusedEvent(index, event.id, "", f"is over {MAX_STORED_EVENT_BYTES} bytes as stored"))
            continue
        if event.type == "user.login" and event.product is None:
            try:
                event = replace(event, product=implied_product(plans, event.timestamp))
            except DomainError as error:
                refused.append(RefusedEvent(index, event.id, "product", error.message))
                continue
        kept.append(event)
    stored = ports.events.store(kept) if kept else []
    fault_point("after_store")
    to_count = [item.as_stored for item in stored if item.as_stored is not None]
    touched = {event.day for event in kept}
    countings = countings_of_events(to_count, plans) if plans else []
    outcome = count(ports, org_id, countings, now, recent_days={event.day for event in to_count}, deadline=deadline)
    # The days of every event, duplicates too: a resend after a failure in between marks them.
    finish(ports, outcome.with_days(touched) if touched else outcome, now)
    accepted = sum(1 for item in stored if item.new)
    record_ingest(accepted, len(kept) - accepted, invalid + len(refused))
    return RecordedEvents(accepted=accepted, duplicates=len(kept) - accepted, refused=refused)
