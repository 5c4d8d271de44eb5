"""Bad input never breaks the service (SPEC §4, §5): each reproduction of issue 9 answers a 4xx
in the error shape (or, where the input is valid, works), a batch keeps its good events, and the
organization and the rollups keep working."""

from __future__ import annotations

import base64
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import requests

from license_usage.store.keys import day_partition
from tests.stack import LocalStack
from tests.support import create_key, create_plan, error_shape, invoke, iso, login, new_org, send, usage, vendor
from usage_local.tokens import AUDIENCE, ISSUER, JWKS_FILE, PRIVATE_KEY_FILE, auth_dir

NOW = datetime.now(UTC)


def post_plan(stack: LocalStack, org_id: str, **terms: Any) -> requests.Response:
    return requests.post(f"{stack.url}/v1/orgs/{org_id}/plans", json=terms, headers=vendor(stack), timeout=30)


@pytest.mark.parametrize(
    "terms",
    [
        pytest.param({"start": "0999-06-01T00:00:00Z"}, id="year-999"),
        pytest.param({"start": "0001-01-01T00:00:00Z"}, id="year-1"),
        pytest.param({"start": "1969-12-31T23:59:59Z"}, id="before-1970"),
        pytest.param({"start": "9999-12-31T23:59:59-01:00"}, id="offset-past-9999"),
        pytest.param({"start": "0001-01-01T00:00:00+01:00"}, id="offset-before-year-1"),
        pytest.param({"start": "2026-06-01T00:00:00Z", "amount": 10**40}, id="amount-10e40"),
        pytest.param({"start": "2026-06-01T00:00:00Z", "overdraft": 10**40}, id="overdraft-10e40"),
    ],
)
def test_plans_that_would_poison_an_organization_are_refused(stack: LocalStack, terms: dict[str, Any]) -> None:
    org_id = new_org("poison")
    answer = post_plan(stack, org_id, **{"type": "seats", "product": "learn", "amount": 5, **terms})
    assert answer.status_code == 422, answer.text
    field = error_shape(answer)["error"]["details"][0]["field"]
    assert field in {"start", "amount", "overdraft"}
    assert requests.get(f"{stack.url}/v1/orgs/{org_id}/plans", headers=vendor(stack), timeout=30).status_code == 200


def test_a_plan_starting_in_9999_works_and_its_renewal_is_refused_and_the_rollups_keep_running(
    stack: LocalStack,
) -> None:
    org_id = new_org("y9999")
    created = post_plan(stack, org_id, type="seats", product="learn", amount=5, start="9999-06-01T00:00:00Z")
    assert created.status_code == 201, created.text
    plan = created.json()
    assert plan["end"] == "9999-12-31T23:59:59Z"
    renewal = requests.post(
        f"{stack.url}/v1/orgs/{org_id}/plans/{plan['plan_id']}/renewal", headers=vendor(stack), timeout=30
    )
    assert renewal.status_code == 422, renewal.text
    error_shape(renewal)
    key = create_key(stack, org_id)
    assert send(stack, key, [login("l1", "ann", iso(NOW - timedelta(minutes=1)))]).status_code == 200
    assert requests.get(f"{stack.url}/v1/orgs/{org_id}/plans", headers=vendor(stack), timeout=30).status_code == 200
    assert usage(stack, org_id, plan["plan_id"])["months"][-1]["month"] == "9999-12"
    report = requests.get(
        f"{stack.url}/v1/orgs/{org_id}/reports/license-ai-usage",
        params={"timeframe": "custom", "from": "9999-12-30", "to": "9999-12-31"},
        headers=vendor(stack),
        timeout=30,
    )
    assert report.status_code == 200, report.text
    assert report.json()["license_usage"]["plans"][0]["plan_id"] == plan["plan_id"]
    invoke(stack, "DailyRollupFunction", NOW)
    invoke(stack, "MonthlyRollupFunction", NOW)


def test_a_batch_keeps_its_good_events_whatever_its_bad_ones_hold(stack: LocalStack) -> None:
    org_id = new_org("batch")
    key = create_key(stack, org_id)
    good = [login(f"good{i}", f"u{i}", iso(NOW - timedelta(minutes=i + 1))) for i in range(3)]
    deep_properties = '{"a":' * 1500 + "1" + "}" * 1500
    raw_events = [
        json.dumps(good[0]),
        json.dumps({**login("late", "x", "9999-12-31T23:59:59-01:00")}),
        json.dumps({**login("early", "x", "0001-01-01T00:00:00+01:00")}),
        json.dumps(good[1])[:-1] + ', "properties": ' + deep_properties + "}",
        "[" * 10000 + "]" * 10000,
        json.dumps(good[2]),
        json.dumps({**login("nan", "x", iso(NOW))})[:-1] + ', "properties": {"v": NaN}}',
        json.dumps({**login("inf", "x", iso(NOW))})[:-1] + ', "properties": {"v": [1e999]}}',
        json.dumps({**login("d33", "x", iso(NOW)), "properties": _nested(33)}),
        json.dumps({**login("d32", "y", iso(NOW - timedelta(seconds=5))), "properties": _nested(32)}),
    ]
    body = '{"events": [' + ", ".join(raw_events) + "]}"
    answer = requests.post(
        f"{stack.url}/v1/events",
        data=body.encode(),
        headers={"x-api-key": key, "Content-Type": "application/json"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["accepted"] == 3  # good0, good2 and d32
    assert sorted(item["index"] for item in result["rejected"]) == [1, 2, 3, 4, 6, 7, 8]
    fields = {item["index"]: item["errors"][0]["field"] for item in result["rejected"]}
    assert (fields[1], fields[2], fields[6], fields[7], fields[8]) == (
        "timestamp",
        "timestamp",
        "properties",
        "properties",
        "properties",
    )


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def test_bodies_nested_too_deeply_outside_the_events_are_refused_in_the_error_shape(stack: LocalStack) -> None:
    key = create_key(stack, new_org("deep"))
    for body in ('{"x": ' + "[" * 5000 + "]" * 5000 + "}", "[" * 100_000, '{"events": ' + "{" * 3000):
        answer = requests.post(f"{stack.url}/v1/events", data=body, headers={"x-api-key": key}, timeout=60)
        assert answer.status_code in (400, 422), answer.text
        error_shape(answer)


def test_an_activity_page_holding_deep_properties_stored_before_the_rule_is_still_read(stack: LocalStack) -> None:
    org_id = new_org("olddeep")
    plan = create_plan(stack, org_id, type="seats", product="learn", amount=5, start=iso(NOW - timedelta(days=10)))
    key = create_key(stack, org_id)
    send(stack, key, [login("l1", "ann", iso(NOW - timedelta(minutes=3)))])
    # Stored as ingest stored events before properties were bounded (300 levels).
    dynamodb = stack.client("dynamodb")
    table = stack.env["EVENTS_TABLE"]
    stamp = (NOW - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    dynamodb.put_item(
        TableName=table,
        Item={
            "pk": {"S": f"{org_id}#old-deep"},
            "day": {"S": day_partition(org_id, stamp[:10], "old-deep")},
            "at": {"S": f"{stamp}#old-deep"},
            "org_id": {"S": org_id},
            "event_id": {"S": "old-deep"},
            "type": {"S": "user.login"},
            "timestamp": {"S": stamp},
            "received_at": {"S": stamp},
            "user_id": {"S": "bob"},
            "product": {"S": "learn"},
            "properties": {"S": json.dumps(_nested(300))},
            "expires_at": {"N": str(int(NOW.timestamp()) + 86400)},
        },
    )
    answer = requests.get(
        f"{stack.url}/v1/orgs/{org_id}/plans/{plan['plan_id']}/activity", headers=vendor(stack), timeout=30
    )
    assert answer.status_code == 200, answer.text
    details = {item["user_id"]: item["details"] for item in answer.json()["items"] if item["type"] == "user.login"}
    assert details["bob"] == {"properties_omitted": "nested deeper than 32 levels"}


def _forge(state: dict[str, Any]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")
    return f"{payload}.{base64.urlsafe_b64encode(b'0' * 16).decode().rstrip('=')}"


def test_forged_altered_and_foreign_cursors_are_400_before_any_read(stack: LocalStack) -> None:
    org_id = new_org("cursor")
    plan = create_plan(stack, org_id, type="seats", product="learn", amount=50, start=iso(NOW - timedelta(days=10)))
    key = create_key(stack, org_id)
    send(stack, key, [login(f"l{i}", f"u{i}", iso(NOW - timedelta(minutes=10 - i))) for i in range(4)])
    other = create_plan(stack, org_id, type="mau", product="observe", amount=5, start=plan["start"])
    base = f"{stack.url}/v1/orgs/{org_id}/plans/{plan['plan_id']}"
    page = requests.get(f"{base}/activity", params={"limit": 1}, headers=vendor(stack), timeout=30).json()
    genuine = page["next_cursor"]
    assert genuine
    payload, _, tag = genuine.partition(".")
    altered = f"{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{tag}"
    attempts = [
        (f"{base}/activity", _forge({"day": "9999-12-31", "before": "~"})),
        (f"{base}/activity", _forge({"day": "2026-01-01", "before": "0"})),
        (f"{base}/activity", altered),
        (f"{stack.url}/v1/orgs/{org_id}/plans/{other['plan_id']}/activity", genuine),  # another list's
        (f"{base}/users", _forge({"key": {"pk": {"S": f"PLAN#{plan['plan_id']}"}}})),
        (f"{base}/users", _forge({"key": {"pk": {"N": "1"}, "sk": {"S": "x"}, "extra": {"S": "y"}}})),
        (f"{stack.url}/v1/orgs/{org_id}/audit", _forge({"key": {"pk": {"S": f"AUDIT#{org_id}"}}})),
        (f"{stack.url}/v1/orgs/{org_id}/audit", "not-a-cursor"),
    ]
    for url, cursor in attempts:
        started = time.monotonic()
        answer = requests.get(url, params={"cursor": cursor}, headers=vendor(stack), timeout=30)
        assert answer.status_code == 400, (url, cursor, answer.text)
        assert error_shape(answer)["error"]["code"] == "invalid_cursor"
        assert time.monotonic() - started < 5
    following = requests.get(
        f"{base}/activity", params={"limit": 1, "cursor": genuine}, headers=vendor(stack), timeout=30
    )
    assert following.status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"from": "9999-12-31T23:59:59-01:00"}, id="from-past-9999"),
        pytest.param({"to": "0001-01-01T00:00:00+01:00"}, id="to-before-year-1"),
        pytest.param({"from": "0999-01-01"}, id="from-year-999"),
        pytest.param({"from": "2026-11-20", "to": "2026-11-10"}, id="from-after-to"),
    ],
)
def test_activity_windows_outside_the_calendar_are_422(stack: LocalStack, params: dict[str, str]) -> None:
    org_id = new_org("actwin")
    plan = create_plan(stack, org_id, type="seats", product="learn", amount=5, start=iso(NOW - timedelta(days=10)))
    answer = requests.get(
        f"{stack.url}/v1/orgs/{org_id}/plans/{plan['plan_id']}/activity",
        params=params,
        headers=vendor(stack),
        timeout=30,
    )
    assert answer.status_code == 422, answer.text
    error_shape(answer)


def test_report_windows_at_the_edges_of_the_calendar(stack: LocalStack) -> None:
    org_id = new_org("repwin")
    url = f"{stack.url}/v1/orgs/{org_id}/reports/license-ai-usage"
    for params, status in (
        ({"timeframe": "custom", "from": "9999-12-30", "to": "9999-12-31"}, 200),
        ({"timeframe": "custom", "from": "1970-01-01", "to": "1970-01-02"}, 200),
        ({"timeframe": "custom", "from": "0001-01-01", "to": "0001-01-02"}, 422),
    ):
        answer = requests.get(url, params=params, headers=vendor(stack), timeout=30)
        assert answer.status_code == status, (params, answer.text)
    activity_to = requests.get(
        f"{stack.url}/v1/orgs/{org_id}/plans/pln_0000000000000000/activity",
        params={"to": "9999-12-31"},
        headers=vendor(stack),
        timeout=30,
    )
    assert activity_to.status_code == 404  # no such plan; the window itself is fine


def _token(stack: LocalStack, **claims: Any) -> str:
    folder = auth_dir(stack.state_dir)
    kid = json.loads((folder / JWKS_FILE).read_text())["keys"][0]["kid"]
    now = int(time.time())
    body = {"sub": "tester", "role": "vendor_admin", "iss": ISSUER, "aud": AUDIENCE, "iat": now, **claims}
    return jwt.encode(body, (folder / PRIVATE_KEY_FILE).read_bytes(), algorithm="RS256", headers={"kid": kid})


def test_a_token_whose_exp_is_a_numeric_string_is_401(stack: LocalStack) -> None:
    later = int(time.time()) + 600
    for claims in ({"exp": str(later)}, {"exp": later, "iat": str(int(time.time()))}):
        answer = requests.get(
            f"{stack.url}/v1/overdrafts", headers={"Authorization": f"Bearer {_token(stack, **claims)}"}, timeout=30
        )
        assert answer.status_code == 401, (claims, answer.text)
    fine = requests.get(
        f"{stack.url}/v1/overdrafts", headers={"Authorization": f"Bearer {_token(stack, exp=later)}"}, timeout=30
    )
    assert fine.status_code == 200


def _raw_http(stack: LocalStack, request: bytes) -> bytes:
    host, port = stack.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(request)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_the_local_gateways_own_refusals_are_in_the_error_shape(stack: LocalStack) -> None:
    huge = requests.get(f"{stack.url}/v1/health", headers={"X-Big": "x" * 70_000}, timeout=30)
    assert huge.status_code == 431
    error_shape(huge)
    answer = _raw_http(
        stack, b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nConnection: close\r\n\r\n"
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head
    assert set(json.loads(body)["error"]) == {"code", "message", "details"}


def test_forty_simultaneous_connections_are_all_answered(stack: LocalStack) -> None:
    key = create_key(stack, new_org("burst"))
    events = [login(f"b{i}", f"u{i}", iso(NOW - timedelta(minutes=1))) for i in range(5)]

    def one(index: int) -> int:
        with requests.Session() as session:
            answer = session.post(
                f"{stack.url}/v1/events",
                json={"events": [{**event, "id": f"{event['id']}-{index}"} for event in events]},
                headers={"x-api-key": key},
                timeout=120,
            )
            return answer.status_code

    with ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(one, range(40)))
    assert statuses == [200] * 40


def test_an_activity_window_with_nothing_in_it_is_an_empty_page(stack: LocalStack) -> None:
    org_id = new_org("emptywin")
    plan = create_plan(stack, org_id, type="seats", product="learn", amount=5, start=iso(NOW - timedelta(days=10)))
    url = f"{stack.url}/v1/orgs/{org_id}/plans/{plan['plan_id']}/activity"
    for params in (
        {"from": "2025-05-01T00:00:00Z", "to": "2025-06-01T00:00:00Z"},  # before the plan and the kept history
        {"from": (NOW + timedelta(days=1)).strftime("%Y-%m-%d")},  # after now
        {"from": "9999-12-31T00:00:00Z"},
        {"to": "1970-01-01T00:00:00Z"},
    ):
        answer = requests.get(url, params=params, headers=vendor(stack), timeout=30)
        assert answer.status_code == 200, (params, answer.text)
        assert answer.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("escaped", ["%C0%AF", "%ED%A0%80", "%FF"])
def test_a_user_id_whose_escapes_are_not_utf8_is_422(stack: LocalStack, escaped: str) -> None:
    org_id = new_org("badutf")
    create_plan(stack, org_id, type="seats", product="learn", amount=5, start=iso(NOW - timedelta(days=10)))
    for method in ("PUT", "DELETE"):
        answer = requests.request(
            method, f"{stack.url}/v1/orgs/{org_id}/seats/{escaped}", headers=vendor(stack), timeout=30
        )
        assert answer.status_code == 422, (method, answer.text)
        error_shape(answer)
