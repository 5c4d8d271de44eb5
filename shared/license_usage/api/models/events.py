"""``POST /v1/events`` (SPEC §4): the batch, one event, and the answer."""

from __future__ import annotations

import json
from datetime import datetime
from ipaddress import ip_address
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from license_usage.api.json_body import non_finite_numbers
from license_usage.api.models.common import ErrorDetail, RoleName, bytes_within
from license_usage.domain import identifiers
from license_usage.domain.events import (
    EVENT_TYPES,
    MAX_EVENTS_PER_BATCH,
    MAX_PROPERTIES_BYTES,
    MAX_PROPERTIES_DEPTH,
    nesting_depth,
)
from license_usage.domain.identifiers import MAX_IP_BYTES, MAX_ROLES, user_id_problem, utf8_bytes
from license_usage.domain.timestamps import parse_rfc3339

GoalId = Annotated[
    str, Field(min_length=1, max_length=identifiers.GOAL_ID.max_chars), bytes_within(identifiers.GOAL_ID)
]
Feature = Annotated[
    str, Field(min_length=1, max_length=identifiers.FEATURE.max_chars), bytes_within(identifiers.FEATURE)
]
Group = Annotated[str, Field(min_length=1, max_length=identifiers.GROUP.max_chars), bytes_within(identifiers.GROUP)]
InstanceId = Annotated[
    str, Field(min_length=1, max_length=identifiers.INSTANCE_ID.max_chars), bytes_within(identifiers.INSTANCE_ID)
]
SessionId = Annotated[
    str, Field(min_length=1, max_length=identifiers.SESSION_ID.max_chars), bytes_within(identifiers.SESSION_ID)
]


class EventBatch(BaseModel):
    """The body's shape; each event is checked on its own so that one bad event rejects only itself."""

    model_config = ConfigDict(extra="forbid")

    events: list[Any] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=identifiers.EVENT_ID_PATTERN)
    type: str
    timestamp: datetime
    user_id: str | None = Field(
        default=None,
        description=identifiers.USER_ID.rule,
        # Documented; checked by _user_id, so that its message is the seats routes' one.
        json_schema_extra={"minLength": 1, "maxLength": identifiers.USER_ID.max_chars},
    )
    product: str | None = Field(default=None, pattern=identifiers.PRODUCT_PATTERN)
    roles: list[RoleName] | None = Field(default=None, max_length=MAX_ROLES)
    goal_id: GoalId | None = None
    quantity: StrictInt | None = Field(default=None, ge=1, le=1_000_000)
    feature: Feature | None = None
    ip: str | None = Field(default=None, description=f"IPv4 or IPv6, at most {MAX_IP_BYTES} bytes")
    group: Group | None = None
    instance_id: InstanceId | None = None
    session_id: SessionId | None = None
    properties: dict[str, Any] | None = None

    @field_validator("user_id")
    @classmethod
    def _user_id(cls, value: str | None) -> str | None:
        """The rule every door applies (domain/identifiers.py), with its one message."""
        problem = None if value is None else user_id_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in EVENT_TYPES:
            raise ValueError(f"must be one of: {', '.join(sorted(EVENT_TYPES))}")
        return value

    @field_validator("timestamp", mode="before")
    @classmethod
    def _rfc3339(cls, value: object) -> datetime:
        if not isinstance(value, str):
            raise ValueError("must be an RFC 3339 string")
        return parse_rfc3339(value)

    @field_validator("ip")
    @classmethod
    def _ip_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if utf8_bytes(value) > MAX_IP_BYTES:  # bounded before parsing: a scope id may be any length
            raise ValueError(f"must be an IPv4 or IPv6 address of at most {MAX_IP_BYTES} bytes")
        try:
            return str(ip_address(value))
        except ValueError:
            raise ValueError("must be an IPv4 or IPv6 address") from None

    @field_validator("properties")
    @classmethod
    def _small_properties(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """SPEC §4: at most 4 KB as JSON, nested at most 32 levels, no NaN or Infinity."""
        if value is None:
            return None
        if non_finite_numbers(value):
            raise ValueError("must not hold NaN, Infinity or numbers out of a double's range")
        if nesting_depth(value) > MAX_PROPERTIES_DEPTH:
            raise ValueError(f"must be nested at most {MAX_PROPERTIES_DEPTH} levels")
        if len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode()) > MAX_PROPERTIES_BYTES:
            raise ValueError("must be at most 4 KB as JSON")
        return value


class EventBatchDocument(BaseModel):
    """The body as the OpenAPI document describes it (``EventBatch`` is what is parsed): each
    event should be an ``EventIn``; one that is not is refused on its own, in ``rejected``, and the
    batch's other events are kept (SPEC §4), so any item is accepted into the batch."""

    model_config = ConfigDict(extra="forbid")

    events: list[EventIn | Any] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class RejectedEvent(BaseModel):
    index: int
    id: str | None
    errors: list[ErrorDetail]


class IngestResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[RejectedEvent]
