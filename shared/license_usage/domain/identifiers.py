"""What an identifier may be (SPEC §4, §5), in one place for every door it comes in by.

Every identifier that becomes part of a DynamoDB key, an S3 object key or a log line is bounded
in UTF-8 bytes, not only in characters: a character takes up to 4 bytes, and DynamoDB measures
keys in bytes (partition key at most 2,048, sort key at most 1,024; an item at most 400 KB). The
bounds below keep every key ``store/keys.py`` builds from them under half of DynamoDB's limits
(tests/domain/test_identifiers.py builds each at its bounds)."""

from __future__ import annotations

import re
from dataclasses import dataclass

DYNAMODB_PARTITION_KEY_BYTES = 2048
DYNAMODB_SORT_KEY_BYTES = 1024
DYNAMODB_ITEM_BYTES = 400 * 1024


def utf8_bytes(text: str) -> int:
    """``text``'s length in UTF-8, without encoding a short text (a character is at most 4 bytes)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True)
class TextLimit:
    """A free-text identifier: 1 to ``max_chars`` characters, at most ``max_bytes`` in UTF-8,
    printable when ``printable`` (str.isprintable: no control, format or separator character
    but the space: NUL, ESC, LF, TAB, VT, NBSP and zero-width space are all refused)."""

    max_chars: int
    max_bytes: int
    printable: bool = False

    @property
    def rule(self) -> str:
        kind = "printable characters" if self.printable else "characters"
        return f"must be 1 to {self.max_chars} {kind}, at most {self.max_bytes} bytes in UTF-8"

    def problem(self, text: str) -> str | None:
        """None when ``text`` keeps the rule, else the rule (one message for every way to break it)."""
        if not 1 <= len(text) <= self.max_chars or utf8_bytes(text) > self.max_bytes:
            return self.rule
        if self.printable and not text.isprintable():
            return self.rule
        return None


# SPEC §4: a user id is "1–256 printable characters (no control characters)"; its bytes are
# bounded too, because it is the sort key ``USER#<user_id>`` (docs/decisions.md, 2026-12-08).
USER_ID = TextLimit(max_chars=256, max_bytes=512, printable=True)
# Free names of the events (SPEC §4 gives no length): ``<day>#G#<group>`` is a sort key.
GROUP = TextLimit(max_chars=256, max_bytes=512)
FEATURE = TextLimit(max_chars=256, max_bytes=512)
GOAL_ID = TextLimit(max_chars=256, max_bytes=512)
# SPEC §4: instance ids are 1–128 characters; session ids the same.
INSTANCE_ID = TextLimit(max_chars=128, max_bytes=256)
SESSION_ID = TextLimit(max_chars=128, max_bytes=256)
# A role (of events and of a plan's assign_roles): 1-64 characters without control characters.
ROLE = TextLimit(max_chars=64, max_bytes=128)
ROLE_PATTERN = r"^[^\x00-\x1f\x7f]{1,64}$"
MAX_ROLES = 50
# The longest text of an IP address: an IPv6 address (at most 45 characters) with a scope id.
# Longer text is refused before it is parsed (Python accepts a scope id of any length).
MAX_IP_BYTES = 64

# ASCII-only identifiers: their characters are their bytes.
EVENT_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
MAX_EVENT_ID_BYTES = 128
PRODUCT_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
MAX_PRODUCT_BYTES = 64
# An organization id: 1-64 of A-Za-z0-9._- and not only dots, so that it is never a path
# segment ``.`` or ``..`` (it is one of an export's object key). Written without look-ahead,
# which pydantic's regex engine lacks; its length is bounded apart (MAX_ORG_ID_BYTES).
ORG_ID_PATTERN = r"^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$"
MAX_ORG_ID_BYTES = 64
ORG_ID_RULE = "must be 1 to 64 of A-Za-z0-9._- and not only dots"
# Ids the service makes itself (domain/api_keys.py, plans, exports, schedules, subscriptions).
KEY_ID_PATTERN = r"^key_[0-9a-f]{16}$"
MAX_KEY_ID_BYTES = 20
MAX_PLAN_ID_BYTES = 20  # pln_ and 16 hex digits
MAX_EXPORT_ID_BYTES = 36  # exp_, 20 digits and 12 hex digits (schedules: sch_, the same)
MAX_SUBSCRIPTION_ID_BYTES = 20  # sub_ and 16 hex digits

_ORG_ID = re.compile(ORG_ID_PATTERN)


def is_org_id(text: str) -> bool:
    """SPEC §5: whether ``text`` may name an organization (path parameters and token claims)."""
    return len(text) <= MAX_ORG_ID_BYTES and _ORG_ID.fullmatch(text) is not None


def user_id_problem(user_id: str) -> str | None:
    """SPEC §4: the one rule for a user id, whichever door it comes in by (ingest, the seats
    routes): None when it keeps the rule, else what the rule is."""
    return USER_ID.problem(user_id)


def is_path_segment(text: str) -> bool:
    """Whether ``text`` may be one segment of an object key: not empty, no ``/``, not ``.`` or ``..``."""
    return text not in ("", ".", "..") and "/" not in text
