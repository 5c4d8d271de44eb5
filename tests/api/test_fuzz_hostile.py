"""Hostile fuzzing (issue 20): schemathesis generates a request for every route from
``docs/openapi.json``, then every string it drew, in the body and in the path, is swapped for one
of the values that once stopped the service (ids of 256 emoji, 1,100 characters, control and
invisible characters, ``.`` and ``..``, formulas), and every integer for one of 5,000 digits. Each
case goes out as every kind of caller. No answer may be a 5xx; every refusal has the error shape.

The bodies that JSON libraries cannot write (2,000 levels deep, repeated keys, broken UTF-8) are
sent raw to every route by ``test_hostile_bodies.py``."""

from __future__ import annotations

import sys
import zlib
from typing import Any

import pytest
import schemathesis
from hypothesis import Phase

from tests.stack import LocalStack
from tests.support import ROOT, FuzzBudget, caller_headers, error_shape, fuzz_examples, fuzz_settings

pytestmark = pytest.mark.fuzz
SCHEMA = schemathesis.openapi.from_path(str(ROOT / "docs" / "openapi.json"))
EXAMPLES_PER_ROUTE = fuzz_examples(4)
BUDGET = FuzzBudget(8)
FUZZ_ORG = "fuzz-hostile"

HOSTILE_STRINGS = (
    "\U0001f600" * 256,  # 256 characters, 1,024 bytes
    "k" * 1100,
    "a\x00b\x1bc\nd\te\x0bf",
    "\u00a0\u200bx",
    ".",
    "..",
    "r;=1+1",
    "\uff1d1+1",
    "x" * 5000,
)
# Python's own limit on turning an int into text is 4,300 digits; this test sends more on purpose.
HUGE_INTEGER_DIGITS = 5000


def _pick(path: str) -> str:
    return HOSTILE_STRINGS[zlib.crc32(path.encode()) % len(HOSTILE_STRINGS)]


def _poison(value: Any, path: str = "") -> Any:
    """Every string leaf becomes a hostile string (chosen by its place), every integer a huge one."""
    if isinstance(value, dict):
        return {key: _poison(item, f"{path}/{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [_poison(item, f"{path}/{index}") for index, item in enumerate(value)]
    if isinstance(value, str):
        return _pick(path)
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    return 10**HUGE_INTEGER_DIGITS - 1


@SCHEMA.hook("map_body")
def hostile_body(context: Any, body: Any) -> Any:
    return _poison(body)


@SCHEMA.hook("map_path_parameters")
def hostile_path(context: Any, parameters: Any) -> Any:
    if not parameters:
        return parameters
    return {name: _pick(name + str(value)) for name, value in parameters.items()}


@pytest.fixture(scope="module")
def credentials(stack: LocalStack) -> list[dict[str, str]]:
    return caller_headers(stack, FUZZ_ORG)


@pytest.fixture(scope="module", autouse=True)
def huge_integers_can_be_written() -> Any:
    """The client side must be able to write a 5,000-digit integer (the server must refuse it)."""
    saved = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    yield
    sys.set_int_max_str_digits(saved)


@SCHEMA.parametrize()
@fuzz_settings(EXAMPLES_PER_ROUTE, Phase.generate)
def test_no_route_answers_a_hostile_request_with_a_5xx(
    case: schemathesis.Case[Any], stack: LocalStack, credentials: list[dict[str, str]]
) -> None:
    if BUDGET.spent(case.operation.label):
        return
    for headers in credentials:
        response = case.call(base_url=stack.url, headers=headers, timeout=60)
        assert response.status_code < 500, (case.as_curl_command(headers)[:2000], response.status_code, response.text)
        if response.status_code >= 400:
            error_shape(response)
