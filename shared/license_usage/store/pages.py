"""Opaque list cursors (SPEC §5: every list pages with ``cursor`` and ``limit``).

A cursor carries the position the next page starts from (DynamoDB's last evaluated key, or a
list's own position) and the scope it belongs to (the list and the partition it reads), signed
with an HMAC: a cursor that was forged, altered or taken from another list is refused before any
read. The key is ``CURSOR_SIGNING_KEY`` (a template parameter; the local stack makes one)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from license_usage.domain.errors import InvalidCursor

T = TypeVar("T")
_TAG_BYTES = 16


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tag(payload: str, scope: str) -> bytes:
    key = os.environ.get("CURSOR_SIGNING_KEY", "").encode()
    if len(key) < 32:
        raise RuntimeError("CURSOR_SIGNING_KEY is not set (at least 32 characters)")
    return hmac.new(key, f"{scope}\n{payload}".encode(), hashlib.sha256).digest()[:_TAG_BYTES]


def encode_state(state: dict[str, Any], scope: str) -> str:
    payload = _b64(json.dumps(state, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_b64(_tag(payload, scope))}"


def decode_state(cursor: str, scope: str) -> dict[str, Any]:
    """The position a cursor of ``scope`` names; InvalidCursor for anything else."""
    payload, _, tag = cursor.partition(".")
    try:
        valid = hmac.compare_digest(_unb64(tag), _tag(payload, scope))
        state = json.loads(_unb64(payload)) if valid else None
    except (ValueError, TypeError):
        valid, state = False, None
    if not valid or not isinstance(state, dict):
        raise InvalidCursor("cursor is not one this list returned.")
    return state


def encode_cursor(last_evaluated_key: dict[str, Any] | None, scope: str) -> str | None:
    if not last_evaluated_key:
        return None
    return encode_state({"key": last_evaluated_key}, scope)


def decode_cursor(cursor: str | None, scope: str) -> dict[str, Any] | None:
    """The start key for a query of the list ``scope``; a cursor from anywhere else is refused."""
    if not cursor:
        return None
    key = decode_state(cursor, scope).get("key")
    if not isinstance(key, dict):
        raise InvalidCursor("cursor is not one this list returned.")
    return key
