"""The one reading of a request body as JSON, for every route (SPEC §4, §5): before any model
sees the body, nothing in it can break the function or pass for something it is not.

- Depth: no nesting exhausts the parser's stack. A body nested deeper than ``SAFE_DEPTH`` is
  refused, except where the depth lies inside an element of a top-level array (the events of a
  batch): that element is replaced by ``TOO_DEEP`` before parsing, so the other elements are
  kept and that one is refused on its own.
- Numbers: NaN, Infinity, and numbers out of a double's range (an integer of 4,301 digits would
  otherwise stop Python's parser) become ``NonFinite``.
- Duplicate keys: an object that names a key twice becomes ``DuplicateKeys`` (RFC 8259 leaves
  its meaning open; the last one would win silently).
- Strings longer than ``MAX_STRING_BYTES`` (no field of any body may be that long), and strings
  that are not Unicode text (a lone surrogate, which no store can encode).

``parse_json`` marks each such place; ``body_problem`` finds the first in a value (the whole body,
or one event of a batch); ``read_json_body`` refuses a body that has one, for the routes whose
bodies Powertools validates (``JsonApiResolver`` hands it in as the body's deserializer)."""

from __future__ import annotations

import json
import math
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from license_usage.domain.errors import InvalidRequest, MalformedBody, PayloadTooLarge
from license_usage.domain.events import MAX_BODY_BYTES
from license_usage.domain.identifiers import utf8_bytes

# Well below the C parser's recursion limit, well above what a valid batch needs
# ({"events": [ {…, "properties": 32 levels} ]} is 35).
SAFE_DEPTH = 64
# No field of any body may be longer (the longest, an event's properties, is 4 KB as a whole).
MAX_STRING_BYTES = 4096
# A random tail, so that no text a client sends can pass for the marker.
TOO_DEEP = f"\u0000nested-too-deep-{secrets.token_hex(8)}"
_DIGITS_OF_LARGEST_DOUBLE = 309

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class NestedTooDeeply(ValueError):
    """Valid JSON, nested deeper than any body of the API may be outside the elements of a
    top-level array."""


class Refused:
    """Where the body had a value no route accepts, and why."""

    reason = "is not accepted"


class NonFinite(Refused):
    """NaN, Infinity, or a number too large for a double."""

    reason = "is NaN, Infinity or a number out of a double's range"

    def __init__(self, text: str) -> None:
        self.text = text[:32]

    def __repr__(self) -> str:
        return f"NonFinite({self.text})"


class DuplicateKeys(Refused):
    """An object that names a key more than once."""

    reason = "is given more than once in its object"

    def __init__(self, key: str) -> None:
        self.key = key


@dataclass(frozen=True)
class BodyProblem:
    """The first place of a body no route accepts; ``malformed``: the body cannot be read one
    way (a key given twice), answered 400, where the others are 422 (valid JSON, refused)."""

    path: tuple[str | int, ...]
    message: str
    malformed: bool = False

    @property
    def field(self) -> str:
        return ".".join(str(part) for part in self.path) or "body"


def _float(text: str) -> float | NonFinite:
    value = float(text)
    return value if math.isfinite(value) else NonFinite(text)


def _int(text: str) -> int | NonFinite:
    # Counting digits first: int() refuses over 4,300 digits, and is quadratic below that.
    if len(text.lstrip("-")) > _DIGITS_OF_LARGEST_DOUBLE:
        return NonFinite(text)
    value = int(text)
    try:
        float(value)
    except OverflowError:
        return NonFinite(text)
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any] | DuplicateKeys:
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return DuplicateKeys(key)
        seen.add(key)
    raise AssertionError("a key repeats")  # pragma: no cover


def _depth(raw: bytes) -> int:
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(_STEP[b] for b in brackets), default=0)


def _is_element_level(stack: list[bytes]) -> bool:
    """Inside the top-level array, or an array that is a value of the top-level object."""
    return stack == [b"["] or stack == [b"{", b"["]


def _shallow(raw: bytes) -> bytes:
    """``raw`` with every element of a top-level array that nests too deeply replaced by
    ``TOO_DEEP`` (deep values elsewhere are left as they are: ``parse_json`` refuses the body)."""
    out: list[bytes] = []
    stack: list[bytes] = []
    cursor = 0
    start: int | None = None  # where the current element began
    deepest = 0

    def flush(end: int) -> None:
        nonlocal cursor
        if start is not None and deepest - len(stack) > SAFE_DEPTH:
            out.append(raw[cursor:start])
            out.append(json.dumps(TOO_DEEP).encode())
            cursor = end

    for match in _TOKEN.finditer(raw):
        token = match.group()[:1]
        if token == b'"':
            continue
        if token in (b"[", b"{"):
            stack.append(token)
            deepest = max(deepest, len(stack))
            if _is_element_level(stack):
                start, deepest = match.end(), len(stack)
        elif token == b",":
            if _is_element_level(stack):
                flush(match.start())
                start, deepest = match.end(), len(stack)
        else:
            if _is_element_level(stack):
                flush(match.start())
                start = None
            if stack:
                stack.pop()
    out.append(raw[cursor:])
    return b"".join(out)


def parse_json(raw: bytes | str) -> Any:
    """The body as JSON, each place no route accepts marked (the module's docstring).
    NestedTooDeeply: too deep outside the elements of a top-level array; ValueError: not JSON."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    # Depth needs at least as many brackets: most bodies skip the scan (two C-speed counts).
    if data.count(b"[") + data.count(b"{") > SAFE_DEPTH and _depth(data) > SAFE_DEPTH:
        data = _shallow(data)
        if _depth(data) > SAFE_DEPTH:
            raise NestedTooDeeply("nested too deeply")
    try:
        return json.loads(data, parse_float=_float, parse_int=_int, parse_constant=NonFinite, object_pairs_hook=_object)
    except RecursionError:  # not reached below SAFE_DEPTH; kept so that it can never be a 500
        raise NestedTooDeeply("nested too deeply") from None


def _string_problem(text: str) -> str | None:
    if text == TOO_DEEP:
        return f"is nested too deeply (at most {SAFE_DEPTH} levels)"
    if text.isascii():
        size = len(text)
    else:
        try:
            size = len(text.encode())
        except UnicodeEncodeError:  # JSON's \uD800 escapes can name half a character
            return "is not valid Unicode text (a lone surrogate)"
    if size > MAX_STRING_BYTES:
        return f"is longer than {MAX_STRING_BYTES} bytes"
    return None


def body_problem(value: Any, path: Sequence[str | int] = ()) -> BodyProblem | None:
    """The first place in ``value`` (as ``parse_json`` gives it) that no route accepts, in the
    order of the document; None when there is none. Without recursion: depth costs no stack."""
    pending: list[tuple[tuple[str | int, ...], Any]] = [(tuple(path), value)]
    while pending:
        where, node = pending.pop()
        if isinstance(node, DuplicateKeys):
            shown = (*where, node.key) if utf8_bytes(node.key) <= 128 else where
            return BodyProblem(shown, node.reason, malformed=True)
        if isinstance(node, Refused):
            return BodyProblem(where, node.reason)
        if isinstance(node, str):
            problem = _string_problem(node)
            if problem is not None:
                return BodyProblem(where, problem)
        elif isinstance(node, dict):
            for key in node:
                key_problem = _string_problem(key)
                if key_problem is not None:
                    return BodyProblem(where, f"has a key that {key_problem}")
            pending.extend(((*where, key), child) for key, child in reversed(node.items()))
        elif isinstance(node, list):
            pending.extend(((*where, index), child) for index, child in reversed(list(enumerate(node))))
    return None


def refuse_problem(problem: BodyProblem) -> None:
    """Raise the refusal of a whole body for ``problem``: 400 for a key given twice, else 422."""
    details = [{"field": problem.field, "message": problem.message}]
    if problem.malformed:
        raise MalformedBody(f"The body gives the key {problem.field} more than once; give each key once.", details)
    raise InvalidRequest("The request does not have the expected shape.", details)


def read_json_body(text: str) -> Any:
    """The body of a route whose model Powertools validates (``json_body_deserializer``):
    413 over 1 MB, 400 when it is not JSON or gives a key twice, 422 when it nests too deeply or
    holds a number or string no field accepts; otherwise the parsed body for the model."""
    size = utf8_bytes(text)
    if size > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is {size} bytes; at most {MAX_BODY_BYTES} are accepted.")
    try:
        document = parse_json(text)
    except NestedTooDeeply:
        raise InvalidRequest(f"The body nests too deeply (at most {SAFE_DEPTH} levels).") from None
    except ValueError:
        raise MalformedBody("The body is not valid JSON.") from None
    problem = body_problem(document)
    if problem is not None:
        refuse_problem(problem)
    return document


def non_finite_numbers(value: object) -> bool:
    """Whether a parsed value holds NaN, Infinity or an out-of-range number anywhere."""
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, NonFinite):
            return True
        if isinstance(node, dict):
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return False
