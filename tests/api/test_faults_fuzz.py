"""The fuzzer with faults on (issue 14): schemathesis's requests for every route of
docs/openapi.json, sent as every kind of caller while a share of the handlers' AWS calls fail
(usage_local/faults.py), find no 500, 502 or 504; a 503 carries Retry-After and the error shape.

Apart from tests/api/test_faults.py so that the two can run side by side on two test processes
(each has its own stack and fault-control file). The cases are the document's examples and
generated ones, at most FUZZ_EXAMPLES per operation (default 3 here) within
FUZZ_SECONDS_PER_OPERATION seconds (default 3); not schemathesis's coverage cases (boundary values
that a validation refuses before any AWS call: test_fuzz.py sends those)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import schemathesis
from hypothesis import Phase

from tests.stack import LocalStack
from tests.support import ROOT, FuzzBudget, caller_headers, error_shape, fuzz_examples, fuzz_settings

pytestmark = [pytest.mark.faults, pytest.mark.fuzz]
SCHEMA = schemathesis.openapi.from_path(str(ROOT / "docs" / "openapi.json"))
SCHEMA.config.phases.coverage.enabled = False
FUZZ_ORG = "fuzz-faults"
RATE = 0.1
FUZZ: Counter[int] = Counter()
BUDGET = FuzzBudget(3)


@pytest.fixture(scope="module")
def credentials(stack: LocalStack) -> Iterator[list[dict[str, str]]]:
    """One header set per kind of caller (vendor admin, org admin, reporter, an ingest key), made
    with faults off; then faults on for the module's cases, and off after them."""
    headers = caller_headers(stack, FUZZ_ORG)
    stack.set_faults(RATE)
    yield headers
    stack.set_faults()


def header(headers: Mapping[str, Any], name: str) -> str | None:
    """A header of schemathesis's response, whatever the case of its name (its headers are
    lower-case names to lists of values)."""
    for key, value in headers.items():
        if key.lower() == name.lower():
            return ", ".join(value) if isinstance(value, list) else str(value)
    return None


@SCHEMA.parametrize()
@fuzz_settings(fuzz_examples(3), Phase.explicit, Phase.generate)
def test_the_fuzzer_finds_no_5xx_but_a_retryable_503_with_faults_on(
    case: schemathesis.Case[Any], stack: LocalStack, credentials: list[dict[str, str]]
) -> None:
    if BUDGET.spent(case.operation.label):
        return
    for headers in credentials:
        response = case.call(base_url=stack.url, headers=headers, timeout=60)
        FUZZ[response.status_code] += 1
        assert response.status_code not in (500, 502, 504), (
            case.as_curl_command(headers),
            header(response.headers, "x-amzn-ErrorType"),
            response.text,
        )
        if response.status_code >= 500:
            assert response.status_code == 503, response.text
            assert header(response.headers, "Retry-After"), response.headers
            error_shape(response)
