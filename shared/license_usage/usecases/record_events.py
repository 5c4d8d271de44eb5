"""Recording accepted usage events (SPEC §4): store each new id once, then apply what it means."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from license_usage.domain.events import UsageEvent, directory_change
from license_usage.store.events import store_events
from license_usage.store.users import apply_directory_change


@dataclass(frozen=True)
class RecordedEvents:
    accepted: int
    duplicates: int


def record_events(events: Sequence[UsageEvent]) -> RecordedEvents:
    """Store the events durably; only the ones stored now (not duplicates) change anything else."""
    if not events:
        return RecordedEvents(accepted=0, duplicates=0)
    is_new = store_events(events)
    new_events = [event for event, new in zip(events, is_new, strict=True) if new]
    for event in new_events:
        change = directory_change(event)
        if change is not None:
            apply_directory_change(event.org_id, change)
    return RecordedEvents(accepted=len(new_events), duplicates=len(events) - len(new_events))
