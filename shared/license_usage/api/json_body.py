"""Reading a request body as JSON without letting it break the function (SPEC §4): no depth of
nesting exhausts the parser's stack, and NaN or Infinity never pass for numbers.

A body nested deeper than the parser can safely go is still read when the depth lies inside
elements of a top-level array (the events of a batch): each such element is replaced by
``TOO_DEEP`` before parsing, so the batch's other elements are kept and that one is refused by
its index."""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

# Well below the C parser's recursion limit, well above what a valid batch needs
# ({"events": [ {…, "properties": 32 levels} ]} is 35).
SAFE_DEPTH = 64
TOO_DEEP = "\u0000nested-too-deep"

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class NestedTooDeeply(ValueError):
    """Valid JSON, nested deeper than any body of the API may be outside its events."""


class NonFinite:
    """Where the body had NaN, Infinity or a number too large for a float."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"NonFinite({self.text})"


def _float(text: str) -> float | NonFinite:
    value = float(text)
    return value if math.isfinite(value) else NonFinite(text)


def _depth(raw: bytes) -> int:
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(_STEP[b] for b in brackets), default=0)


def _is_element_level(stack: list[bytes]) -> bool:
    """Inside the top-level array, or an array that is a value of the top-level object."""
    return stack == [b"["] or stack == [b"{", b"["]


def _shallow(raw: bytes) -> bytes:
    """``raw`` with every element of a top-level array that nests too deeply replaced by
    ``TOO_DEEP`` (deep values elsewhere are left as they are: the parser then refuses the body)."""
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


def parse_json(raw: bytes) -> Any:
    """The body as JSON. ValueError: not JSON, or nested too deeply outside a top-level array."""
    # Depth needs at least as many brackets: most bodies skip the scan (two C-speed counts).
    deep_enough = raw.count(b"[") + raw.count(b"{") > SAFE_DEPTH
    text = _shallow(raw) if deep_enough and _depth(raw) > SAFE_DEPTH else raw
    try:
        return json.loads(text, parse_float=_float, parse_constant=NonFinite)
    except RecursionError:
        raise NestedTooDeeply("nested too deeply") from None


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
