"""``POST /v1/events``: product backends send usage events with their organization's API key."""

from __future__ import annotations

import base64
import os
import time
from datetime import datetime
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import ValidationError

from license_usage.api.caller import current_principal
from license_usage.api.errors import field_errors
from license_usage.api.json_body import NestedTooDeeply, body_problem, parse_json, refuse_problem
from license_usage.api.models.common import ErrorDetail
from license_usage.api.models.events import EventBatch, EventBatchDocument, EventIn, IngestResult, RejectedEvent
from license_usage.api.wiring import ports_of
from license_usage.domain import access
from license_usage.domain.errors import InvalidRequest, MalformedBody, PayloadTooLarge
from license_usage.domain.events import MAX_BODY_BYTES, UsageEvent, counted_quantity, missing_fields, timestamp_problem
from license_usage.domain.timestamps import utc_now
from license_usage.usecases.record_events import record_events

router = Router()
DEFAULT_BUDGET_SECONDS = 20.0  # issue 22: no ingest request near the gateway's timeout


def _raw_body(router_: Router) -> bytes:
    event = router_.current_event
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode()


def _parse_batch(raw: bytes) -> list[Any]:
    """SPEC §4's order of refusals: too large (413), not JSON (400), not the batch's shape (422).
    Each event's own problems (api/json_body.py) are left for ``accept_or_reject``."""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is {len(raw)} bytes; at most {MAX_BODY_BYTES} are accepted.")
    try:
        document = parse_json(raw)
    except NestedTooDeeply:
        raise InvalidRequest('The body must be {"events": [...]}: it nests too deeply.') from None
    except ValueError:
        raise MalformedBody("The body is not valid JSON.") from None
    if isinstance(document, dict) and isinstance(document.get("events"), list):
        outside = body_problem({**document, "events": []})
    else:
        outside = body_problem(document)
    if outside is not None:
        refuse_problem(outside)
    try:
        return EventBatch.model_validate(document).events
    except ValidationError as error:
        raise InvalidRequest(
            'The body must be {"events": [...]} with 1 to 1000 events.',
            field_errors(error.errors()),
        ) from None


def _details(problems: list[dict[str, str]]) -> list[ErrorDetail]:
    return [ErrorDetail(**problem) for problem in problems]


def accept_or_reject(index: int, raw: Any, org_id: str, source: str, now: datetime) -> UsageEvent | RejectedEvent:
    """One event of the batch, checked on its own (SPEC §4)."""
    event_id = raw["id"] if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
    problem = body_problem(raw)
    if problem is not None:
        # Named by the event's field; where inside it, in the message.
        field, *inside = problem.path or ("",)
        message = ".".join(str(part) for part in inside) + " " + problem.message if inside else problem.message
        return RejectedEvent(index=index, id=event_id, errors=[ErrorDetail(field=str(field), message=message)])
    if not isinstance(raw, dict):
        return RejectedEvent(index=index, id=None, errors=[ErrorDetail(field="", message="must be a JSON object")])
    try:
        event = EventIn.model_validate(raw)
    except ValidationError as error:
        return RejectedEvent(index=index, id=event_id, errors=_details(field_errors(error.errors())))
    present = {name for name in event.model_fields_set if getattr(event, name) is not None}
    problems = [
        {"field": name, "message": f"is required for {event.type}"} for name in missing_fields(event.type, present)
    ]
    time_problem = timestamp_problem(event.timestamp, now)
    if time_problem is not None:
        problems.append({"field": "timestamp", "message": time_problem})
    if problems:
        return RejectedEvent(index=index, id=event_id, errors=_details(problems))
    return UsageEvent(
        org_id=org_id,
        id=event.id,
        type=event.type,
        timestamp=event.timestamp,
        received_at=now,
        user_id=event.user_id,
        product=event.product,
        roles=tuple(event.roles) if event.roles is not None else None,
        goal_id=event.goal_id,
        quantity=counted_quantity(event.type, event.quantity),
        feature=event.feature,
        ip=event.ip,
        group=event.group,
        instance_id=event.instance_id,
        session_id=event.session_id,
        properties=event.properties,
        source=source,
    )


def _deadline(started: float) -> float:
    """When counting must stop (``time.monotonic()``): ``INGEST_BUDGET_SECONDS`` (20) after the
    request reached the route, and never later than 3 s before the function's own timeout, so an
    answer always leaves before the gateway gives up (what is not counted is left for the rollup)."""
    budget = float(os.environ.get("INGEST_BUDGET_SECONDS") or DEFAULT_BUDGET_SECONDS)
    remaining_ms = getattr(getattr(router, "lambda_context", None), "get_remaining_time_in_millis", None)
    remaining = remaining_ms() / 1000 - 3 if remaining_ms is not None else budget
    return started + max(0.0, min(budget, remaining))


# Validation is done here rather than by Powertools, so that a body over 1 MB is refused
# before it is parsed and one bad event rejects only itself.
@router.post(
    "/v1/events",
    summary="Send usage events",
    enable_validation=False,
    responses={200: {"description": "What was stored", "content": {"application/json": {"model": IngestResult}}}},
)
def post_events() -> dict[str, Any]:
    started = time.monotonic()
    principal = current_principal(router)
    access.require(principal, access.INGEST)
    assert principal.org_id is not None  # an ingest key always belongs to an organization
    now = utc_now()
    checked = [
        accept_or_reject(index, raw, principal.org_id, principal.subject, now)
        for index, raw in enumerate(_parse_batch(_raw_body(router)))
    ]
    valid = [(index, item) for index, item in enumerate(checked) if isinstance(item, UsageEvent)]
    recorded = record_events(
        ports_of(router), principal.org_id, valid, now, invalid=len(checked) - len(valid), deadline=_deadline(started)
    )
    rejected = [item for item in checked if isinstance(item, RejectedEvent)] + [
        RejectedEvent(index=r.index, id=r.event_id, errors=[ErrorDetail(field=r.field, message=r.message)])
        for r in recorded.refused
    ]
    return IngestResult(
        accepted=recorded.accepted,
        duplicates=recorded.duplicates,
        rejected=sorted(rejected, key=lambda item: item.index),
    ).model_dump()


# The body this route parses itself, for the OpenAPI document (api/openapi.py).
REQUEST_BODIES = {("/v1/events", "post"): EventBatchDocument}
