"""Opaque list cursors (SPEC §5: every list pages with ``cursor`` and ``limit``).

A cursor is DynamoDB's last evaluated key, encoded. It is bound to the partition it came from,
so a cursor taken from one organization's list cannot read another's."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from license_usage.domain.errors import InvalidRequest

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(last_evaluated_key: dict[str, Any] | None) -> str | None:
    if not last_evaluated_key:
        return None
    raw = json.dumps(last_evaluated_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, partition_key: str, attribute: str = "pk") -> dict[str, Any] | None:
    """The start key for a query of ``partition_key`` (the value of ``attribute``, the key the
    query's partition is on); a cursor from anywhere else is refused."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
        partition = key[attribute]["S"]
    except (ValueError, KeyError, TypeError):
        raise InvalidRequest("cursor is not one this list returned.") from None
    if not isinstance(key, dict) or partition != partition_key:
        raise InvalidRequest("cursor belongs to another list.")
    return key
