"""The per-organization rate limit (issue 14, item 5; domain/rate_limits.py), through HTTP on a
stack of its own started with ``ORG_REQUESTS_PER_SECOND`` low (the local stack lets the stack's
environment override the template's value for this variable only; unset, the template's
``OrgRequestsPerSecond`` applies, as on AWS).

A burst's requests are sent side by side from the start of a wall-clock second and checked to have
ended within that second (the stack and the tests share the clock); a burst that did not is sent
again with a fresh organization, so the counts asserted are exact."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.stack import LocalStack as Stack
from tests.support import bearer, create_key, login, new_org, vendor

LIMIT = 3
OVER = 2
BURST = LIMIT + OVER  # the widest burst below: every function gets this many warm workers first
ATTEMPTS = 6

Call = Callable[[], requests.Response]


@pytest.fixture(scope="module")
def limited(stack_launcher: Callable[..., Stack], tmp_path_factory: pytest.TempPathFactory) -> Stack:
    stack = stack_launcher(
        tmp_path_factory.mktemp("rate-limited") / "state", env={"ORG_REQUESTS_PER_SECOND": str(LIMIT)}
    )
    _warm_up(stack)
    return stack


def _warm_up(stack: Stack) -> None:
    """A function's pool grows by starting a worker (an import of a second or more) when all are
    busy: grow each to BURST outside the timed bursts (a vendor admin is not limited)."""
    keys = [create_key(stack, new_org("warm")) for _ in range(BURST)]
    _side_by_side([partial(_plans, stack, new_org("warm"), vendor(stack)) for _ in range(BURST)])
    _side_by_side([partial(_ingest, stack, key, "warm") for key in keys])


def _side_by_side(calls: list[Call]) -> list[requests.Response]:
    """The calls on threads of their own, released together; answers in the calls' order."""
    start = threading.Barrier(len(calls))

    def run(call: Call) -> requests.Response:
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _next_second() -> None:
    time.sleep(1.0 - time.time() % 1.0 + 0.005)


def _within_one_second(
    calls: Callable[[], list[Call]], prepare: Callable[[], object] = lambda: None
) -> list[requests.Response]:
    """``prepare()`` (a fresh organization), then ``calls()`` side by side from the start of the
    next second, until one burst ends within the second it started in."""
    for _ in range(ATTEMPTS):
        prepare()
        burst = calls()
        _next_second()
        started = time.time()
        answers = _side_by_side(burst)
        if int(time.time()) == int(started):
            return answers
    pytest.fail(f"no burst fitted in one second in {ATTEMPTS} attempts: the stack is too slow here")


def _plans(stack: Stack, org_id: str, headers: dict[str, str]) -> requests.Response:
    return requests.get(f"{stack.url}/v1/orgs/{org_id}/plans", headers=headers, timeout=30)


def _ingest(stack: Stack, api_key: str, event_id: str) -> requests.Response:
    batch = {"events": [login(event_id, "u1", "2026-11-01T00:00:00Z")]}
    return requests.post(f"{stack.url}/v1/events", json=batch, headers={"x-api-key": api_key}, timeout=30)


def _statuses(answers: list[requests.Response]) -> Counter[int]:
    return Counter(answer.status_code for answer in answers)


def _assert_too_many(answer: requests.Response) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.headers["Retry-After"] == "1"
    body = answer.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == "too_many_requests"
    assert body["error"]["details"] == []


def _windows(stack: Stack, org_id: str) -> list[dict[str, Any]]:
    """The organization's counter items, straight from the table."""
    items: list[dict[str, Any]] = stack.client("dynamodb").scan(
        TableName=stack.env["LICENSING_TABLE"],
        FilterExpression="begins_with(pk, :prefix)",
        ExpressionAttributeValues={":prefix": {"S": f"RATE#{org_id}#"}},
    )["Items"]
    return items


def _window_second(window: dict[str, Any]) -> int:
    return int(window["pk"]["S"].rsplit("#", 1)[1])


class Org:
    """A fresh organization per attempt, with an org_admin token for it."""

    def __init__(self, stack: Stack, prefix: str, role: str = "org_admin") -> None:
        self.stack, self.prefix, self.role = stack, prefix, role
        self.renew()

    def renew(self) -> None:
        self.org_id = new_org(self.prefix)
        self.headers = bearer(self.stack, self.role, self.org_id)

    def plans(self) -> requests.Response:
        return _plans(self.stack, self.org_id, self.headers)


def test_requests_over_the_limit_within_one_second_are_429_with_retry_after(limited: Stack) -> None:
    org = Org(limited, "rate")
    answers = _within_one_second(lambda: [org.plans] * (LIMIT + OVER), org.renew)
    assert _statuses(answers) == {200: LIMIT, 429: OVER}
    for answer in answers:
        if answer.status_code == 429:
            _assert_too_many(answer)
            assert f"more than {LIMIT} requests" in answer.json()["error"]["message"]
    # One counter, holding what was admitted, kept a few minutes by the TTL attribute.
    (window,) = _windows(limited, org.org_id)
    assert window["sk"] == {"S": "RATE"}
    assert int(window["requests"]["N"]) == LIMIT
    assert _window_second(window) + 60 <= int(window["expires_at"]["N"]) <= _window_second(window) + 600


def test_another_organization_is_not_limited_in_the_same_second(limited: Stack) -> None:
    busy, other = Org(limited, "rate-busy"), Org(limited, "rate-other", role="reporter")

    def prepare() -> None:
        busy.renew()
        other.renew()

    answers = _within_one_second(lambda: [busy.plans] * (LIMIT + 1) + [other.plans], prepare)
    assert _statuses(answers[:-1]) == {200: LIMIT, 429: 1}
    assert answers[-1].status_code == 200, answers[-1].text
    (busy_window,), (other_window,) = _windows(limited, busy.org_id), _windows(limited, other.org_id)
    assert _window_second(busy_window) == _window_second(other_window)


def test_after_the_window_requests_are_accepted_again(limited: Stack) -> None:
    org = Org(limited, "rate-again")
    answers = _within_one_second(lambda: [org.plans] * (LIMIT + 1), org.renew)
    assert _statuses(answers) == {200: LIMIT, 429: 1}
    _next_second()
    assert org.plans().status_code == 200


def test_an_api_key_counts_against_its_organization_and_a_refused_batch_stores_nothing(limited: Stack) -> None:
    keys: list[str] = []
    event_ids = [f"e{i}" for i in range(LIMIT + 1)]
    answers = _within_one_second(
        lambda: [partial(_ingest, limited, keys[-1], e) for e in event_ids],
        lambda: keys.append(create_key(limited, new_org("rate-ingest"))),
    )
    assert _statuses(answers) == {200: LIMIT, 429: 1}
    assert [a.json()["accepted"] for a in answers if a.status_code == 200] == [1] * LIMIT
    refused = next(i for i, a in enumerate(answers) if a.status_code == 429)
    _assert_too_many(answers[refused])
    _next_second()
    # The refused batch was never handled: sent again it is new, not a duplicate.
    again = _ingest(limited, keys[-1], event_ids[refused])
    assert again.status_code == 200, again.text
    assert (again.json()["accepted"], again.json()["duplicates"]) == (1, 0)


def test_a_vendor_admin_is_not_limited_by_organization(limited: Stack) -> None:
    org_id, headers = new_org("rate-vendor"), vendor(limited)
    answers = _within_one_second(lambda: [lambda: _plans(limited, org_id, headers)] * BURST)
    assert _statuses(answers) == {200: BURST}
    assert _windows(limited, org_id) == []


def test_health_is_not_limited(limited: Stack) -> None:
    answers = _within_one_second(lambda: [lambda: requests.get(f"{limited.url}/v1/health", timeout=30)] * BURST)
    assert _statuses(answers) == {200: BURST}


def test_a_refused_credential_is_not_counted(limited: Stack) -> None:
    """The authorizer refuses it before the function runs, so it costs no write and no share of
    the organization's second."""
    from tests.api.test_access import _foreign_token

    org_id = new_org("rate-forged")
    now = int(time.time())
    claims = {"sub": "m", "role": "org_admin", "org_id": org_id, "iss": "usage-local", "aud": "usage-local"}
    forged = {"Authorization": f"Bearer {_foreign_token({**claims, 'iat': now, 'exp': now + 600})}"}
    answers = _within_one_second(lambda: [lambda: _plans(limited, org_id, forged)] * BURST)
    assert _statuses(answers) == {401: BURST}
    assert _windows(limited, org_id) == []
    assert _plans(limited, org_id, bearer(limited, "org_admin", org_id)).status_code == 200
    assert [int(w["requests"]["N"]) for w in _windows(limited, org_id)] == [1]


def test_the_stack_under_test_is_the_template_with_only_the_limit_changed(limited: Stack) -> None:
    """The override is the stack's environment, not a changed template: the template's value is
    what every function is configured with."""
    from usage_local.template import Template

    template = Template.load(Path(__file__).resolve().parents[2] / "template.yaml")
    default = str(template.body["Parameters"]["OrgRequestsPerSecond"]["Default"])
    assert limited.function_env("IngestFunction")["ORG_REQUESTS_PER_SECOND"] == default
