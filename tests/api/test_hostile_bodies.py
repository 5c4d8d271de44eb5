"""Nothing one organization sends can stop the service (issue 20): every JSON body goes through one
reading (api/json_body.py) and every identifier through one rule (domain/identifiers.py). Each
reproduction of the issue is answered 4xx in the error shape, or is stored; a batch keeps its
good events and refuses its bad ones by index; nothing is stored from a refused request."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from license_usage.store.keys import event_key
from tests.conftest import Api
from tests.stack import LocalStack
from tests.support import ROOT, create_key, create_plan, error_shape, invoke, iso, login, new_org, send, usage, vendor

NOW = datetime.now(UTC)
DEEP = '{"x": ' + "[" * 2000 + "]" * 2000 + "}"
HUGE_INTEGER = "9" * 5000
EMOJI = "\U0001f600"  # 4 bytes in UTF-8
CONTROL_AND_INVISIBLE = {
    "nul": "a\x00b",
    "esc": "a\x1bb",
    "lf": "a\nb",
    "tab": "a\tb",
    "vt": "a\x0bb",
    "nbsp": "a\xa0b",
    "zwsp": "a\u200bb",
}


def raw_post(api: Api, path: str, body: str | bytes, **kwargs: Any) -> requests.Response:
    data = body.encode() if isinstance(body, str) else body
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    return api.post(path, data=data, headers=headers, **kwargs)


def body_routes() -> list[tuple[str, str]]:
    """Every route that takes a JSON body, from the API's OpenAPI document."""
    document = json.loads((Path(ROOT) / "docs" / "openapi.json").read_text())
    return sorted(
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    )


def test_the_openapi_document_lists_the_routes_with_bodies() -> None:
    assert ("POST", "/v1/orgs/{org_id}/plans") in body_routes()
    assert ("PUT", "/v1/orgs/{org_id}/seats/{user_id}") in body_routes()
    assert len(body_routes()) >= 7


@pytest.mark.parametrize(("method", "template"), body_routes())
def test_every_route_with_a_body_refuses_deep_nesting_huge_integers_and_repeated_keys(
    api: Api, stack: LocalStack, method: str, template: str
) -> None:
    org_id = new_org("hostile")
    key = create_key(stack, org_id)
    path = template.format(org_id=org_id, plan_id="pln_0000000000000000", user_id="ann")
    headers = {"x-api-key": key} if template == "/v1/events" else vendor(stack)
    cases = [  # the body, the answer, its first detail's field (None: not checked)
        (DEEP, {400, 422}, None),
        ("[" * 2000 + "]" * 2000, {400, 422}, None),
        ('{"events": [], "amount": ' + HUGE_INTEGER + "}", {422}, "amount"),
        ('{"x": [1, ' + HUGE_INTEGER + "]}", {422}, "x.1"),
        ('{"product": "learn", "product": "observe"}', {400}, "product"),
        ('{"a": {"b": 1, "b": 2}}', {400}, "a.b"),
        ('{"events": [], "events": []}', {400}, "events"),
        ('{"s": "\\ud800"}', {422}, "s"),
        ('{"s": "' + "x" * 5000 + '"}', {422}, "s"),
    ]
    for body, statuses, field in cases:
        answer = api.request(method, path, data=body.encode(), headers={**headers, "Content-Type": "application/json"})
        assert answer.status_code in statuses, (method, path, body[:40], answer.text[:300])
        error = error_shape(answer)["error"]
        if field is not None:
            assert error["details"][0]["field"] == field, (body[:40], error)
        if answer.status_code == 400:
            assert error["code"] == "malformed_json"
            assert error["details"][0]["message"] == "is given more than once in its object"
    # Nothing was stored by any of them.
    assert api.get(f"/v1/orgs/{org_id}/plans", headers=vendor(stack)).json()["items"] == []
    for listing in ("exports", "report-schedules", "notification-subscriptions"):
        answer = api.get(f"/v1/orgs/{org_id}/{listing}", headers=vendor(stack))
        assert answer.status_code == 200, answer.text
        assert answer.json()["items"] == []


def stored(stack: LocalStack, org_id: str, event_id: str) -> bool:
    item = stack.client("dynamodb").get_item(
        TableName=stack.env["EVENTS_TABLE"], Key={"pk": {"S": event_key(org_id, event_id)}}, ConsistentRead=True
    )
    return "Item" in item


def post_events(api: Api, key: str, raw_events: list[str]) -> dict[str, Any]:
    answer = raw_post(api, "/v1/events", '{"events": [' + ", ".join(raw_events) + "]}", headers={"x-api-key": key})
    assert answer.status_code == 200, answer.text[:500]
    result: dict[str, Any] = answer.json()
    return result


def test_a_huge_integer_or_a_repeated_key_in_one_event_rejects_only_that_event(api: Api, stack: LocalStack) -> None:
    org_id = new_org("hugeint")
    key = create_key(stack, org_id)
    at = iso(NOW - timedelta(minutes=2))
    raw_events = [
        json.dumps(login("good-1", "ann", at)),
        json.dumps(login("big-int", "bob", at))[:-1] + ', "properties": {"n": ' + "9" * 4301 + "}}",
        json.dumps(login("dup-key", "cid", at))[:-1] + ', "user_id": "dan"}',
        json.dumps(login("dup-inner", "eve", at))[:-1] + ', "properties": {"a": 1, "a": 2}}',
        json.dumps(login("good-2", "fay", at)),
    ]
    result = post_events(api, key, raw_events)
    assert (result["accepted"], result["duplicates"]) == (2, 0)
    rejected = {item["index"]: item for item in result["rejected"]}
    assert sorted(rejected) == [1, 2, 3]
    assert rejected[1]["id"] == "big-int"
    assert rejected[1]["errors"][0]["field"] == "properties"
    assert rejected[2]["errors"] == [{"field": "user_id", "message": "is given more than once in its object"}]
    assert rejected[3]["errors"][0]["field"] == "properties"
    assert "more than once" in rejected[3]["errors"][0]["message"]
    assert stored(stack, org_id, "good-1")
    assert stored(stack, org_id, "good-2")
    assert not any(stored(stack, org_id, event_id) for event_id in ("big-int", "dup-key", "dup-inner"))


def test_a_repeated_key_outside_the_events_refuses_the_batch(api: Api, stack: LocalStack) -> None:
    org_id = new_org("dupbatch")
    key = create_key(stack, org_id)
    event = json.dumps(login("only", "ann", iso(NOW - timedelta(minutes=1))))
    answer = raw_post(api, "/v1/events", f'{{"events": [{event}], "events": [{event}]}}', headers={"x-api-key": key})
    assert answer.status_code == 400, answer.text
    assert error_shape(answer)["error"]["code"] == "malformed_json"
    assert not stored(stack, org_id, "only")


def test_ids_over_their_byte_bounds_are_rejected_by_index_and_not_stored(api: Api, stack: LocalStack) -> None:
    org_id = new_org("bytes")
    key = create_key(stack, org_id)
    at = iso(NOW - timedelta(minutes=3))
    events: list[dict[str, Any]] = [
        login("emoji-user", EMOJI * 256, at),  # 256 characters, 1,024 bytes
        login("emoji-group", "ann", at, group=EMOJI * 256),
        login("emoji-feature", "ann", at, feature=EMOJI * 256),
        login("emoji-instance", "ann", at, instance_id=EMOJI * 128),
        login("emoji-session", "ann", at, session_id=EMOJI * 128),
        {"id": "emoji-roles", "type": "user.created", "timestamp": at, "user_id": "ann", "roles": [EMOJI * 64]},
        {"id": "emoji-goal", "type": "ai.quality_check", "timestamp": at, "goal_id": EMOJI * 256},
        login("fine", "ann", at, group="west"),
    ]
    result = send(stack, key, events).json()
    assert result["accepted"] == 1
    fields = {item["index"]: item["errors"][0]["field"] for item in result["rejected"]}
    assert fields == {
        0: "user_id",
        1: "group",
        2: "feature",
        3: "instance_id",
        4: "session_id",
        5: "roles.0",
        6: "goal_id",
    }
    assert all("bytes" in item["errors"][0]["message"] for item in result["rejected"])
    assert stored(stack, org_id, "fine")
    assert not any(stored(stack, org_id, str(event["id"])) for event in events[:-1])
    # Nothing of them was kept: the same ids with valid fields are new events.
    again = send(stack, key, [login("emoji-user", "ann", at), login("emoji-group", "ann", at, group="east")]).json()
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (2, 0, [])


def test_events_at_every_fields_byte_limit_are_stored_and_rolled_up(api: Api, stack: LocalStack) -> None:
    org_id = new_org("atlimit")
    plan = create_plan(stack, org_id, type="seats", product="learn", amount=5, start=iso(NOW - timedelta(days=20)))
    key = create_key(stack, org_id)
    at = iso(NOW - timedelta(minutes=4))
    user = EMOJI * 128  # 128 characters, 512 bytes: at both bounds of a user id
    properties = {"note": "x" * 4000}
    events: list[dict[str, Any]] = [
        {"id": "i" * 128, "type": "user.created", "timestamp": at, "user_id": user, "roles": [EMOJI * 32] * 50},
        login(
            "l" * 128,
            user,
            at,
            group=EMOJI * 128,
            instance_id=EMOJI * 64,
            session_id=EMOJI * 64,
            ip="fe80::1%" + "e" * 56,
            properties=properties,
        ),
        {"id": "f" * 128, "type": "feature.used", "timestamp": at, "user_id": user, "feature": EMOJI * 128},
        {"id": "q" * 128, "type": "ai.quality_check", "timestamp": at, "user_id": user, "goal_id": EMOJI * 128},
    ]
    result = send(stack, key, events).json()
    assert (result["accepted"], result["rejected"]) == (4, [])
    assert usage(stack, org_id, plan["plan_id"])["consumed"] == 1
    seat = api.put(f"/v1/orgs/{org_id}/seats/{quote(user, safe='')}", headers=vendor(stack))
    assert seat.status_code == 200, seat.text
    invoke(stack, "DailyRollupFunction", NOW)
    users = api.get(f"/v1/orgs/{org_id}/plans/{plan['plan_id']}/users", headers=vendor(stack))
    assert users.status_code == 200, users.text
    assert [item["user_id"] for item in users.json()["items"]] == [user]


def test_a_huge_ip_rejects_its_event_and_the_rest_of_the_batch_is_stored_and_counted(
    api: Api, stack: LocalStack
) -> None:
    org_id = new_org("hugeip")
    plan = create_plan(stack, org_id, type="seats", product="learn", amount=5, start=iso(NOW - timedelta(days=20)))
    key = create_key(stack, org_id)
    at = iso(NOW - timedelta(minutes=2))
    batch = [
        login("valid-login", "ann", at),
        login("huge-ip", "bob", at, ip="fe80::1%" + "a" * 420_000),
        login("long-ip", "cid", at, ip="fe80::1%" + "a" * 60),
    ]
    first = send(stack, key, batch)
    assert first.status_code == 200, first.text[:300]
    result = first.json()
    assert result["accepted"] == 1
    assert {item["index"]: item["errors"][0]["field"] for item in result["rejected"]} == {1: "ip", 2: "ip"}
    assert stored(stack, org_id, "valid-login")
    assert not stored(stack, org_id, "huge-ip")
    assert usage(stack, org_id, plan["plan_id"])["consumed"] == 1
    resend = send(stack, key, batch).json()
    assert (resend["accepted"], resend["duplicates"], len(resend["rejected"])) == (0, 1, 2)
    assert usage(stack, org_id, plan["plan_id"])["consumed"] == 1


@pytest.mark.parametrize("name", sorted(CONTROL_AND_INVISIBLE))
def test_a_user_id_is_refused_alike_at_ingest_and_by_the_seats_routes(api: Api, stack: LocalStack, name: str) -> None:
    org_id = new_org("oneid")
    create_plan(stack, org_id, type="seats", product="learn", amount=5, start=iso(NOW - timedelta(days=20)))
    key = create_key(stack, org_id)
    user_id = CONTROL_AND_INVISIBLE[name]
    result = send(stack, key, [login(f"odd-{name}", user_id, iso(NOW - timedelta(minutes=1)))]).json()
    assert result["accepted"] == 0
    [rejected] = result["rejected"]
    assert rejected["errors"][0]["field"] == "user_id"
    ingest_message = rejected["errors"][0]["message"]
    for method in ("PUT", "DELETE"):
        answer = api.request(method, f"/v1/orgs/{org_id}/seats/{quote(user_id, safe='')}", headers=vendor(stack))
        assert answer.status_code == 422, (method, answer.text)
        assert error_shape(answer)["error"]["details"] == [{"field": "user_id", "message": ingest_message}]


def test_the_seats_routes_take_every_user_id_that_ingest_takes_at_its_bounds(api: Api, stack: LocalStack) -> None:
    org_id = new_org("seatbound")
    create_plan(stack, org_id, type="seats", product="learn", amount=5, start=iso(NOW - timedelta(days=20)))
    for user_id, status in (("\u00e9" * 256, 200), (EMOJI * 128, 200), (EMOJI * 129, 422), ("a" * 257, 422)):
        answer = api.put(f"/v1/orgs/{org_id}/seats/{quote(user_id, safe='')}", headers=vendor(stack))
        assert answer.status_code == status, (len(user_id), answer.text)
        if status == 422:
            error_shape(answer)
    too_long = api.put(f"/v1/orgs/{org_id}/seats/{'%41' * 2000}", headers=vendor(stack))
    assert too_long.status_code == 422, too_long.text
    assert error_shape(too_long)["error"]["details"][0]["field"] == "user_id"


def test_a_key_id_of_1100_characters_is_a_4xx(api: Api, stack: LocalStack) -> None:
    org_id = new_org("keyid")
    create_key(stack, org_id)
    for key_id in ("k" * 1100, EMOJI * 300, "key_0000000000000000#x"):
        answer = api.delete(f"/v1/orgs/{org_id}/api-keys/{quote(key_id, safe='')}", headers=vendor(stack))
        assert 400 <= answer.status_code < 500, answer.text
        error_shape(answer)
    unknown = api.delete(f"/v1/orgs/{org_id}/api-keys/key_0000000000000000", headers=vendor(stack))
    assert unknown.status_code == 404, unknown.text


def _literal_path(api: Api, method: str, path: str, **kwargs: Any) -> requests.Response:
    """Sent with its dot segments as they are (clients would resolve ``..`` away)."""
    prepared = requests.Request(method, api.stack.url + "/", **kwargs).prepare()
    prepared.url = api.stack.url + path
    return api.session.send(prepared, timeout=60)


@pytest.mark.parametrize("org_id", [".", "..", "..."])
def test_organization_ids_of_dots_are_refused_in_every_path(api: Api, stack: LocalStack, org_id: str) -> None:
    headers = vendor(stack)
    attempts = [
        ("POST", f"/v1/orgs/{org_id}/api-keys", None),
        ("POST", f"/v1/orgs/{org_id}/plans", {"type": "seats", "product": "learn", "amount": 5, "start": iso(NOW)}),
        ("POST", f"/v1/orgs/{org_id}/exports", {"report": "audit"}),
        ("GET", f"/v1/orgs/{org_id}/plans", None),
    ]
    for method, path, body in attempts:
        answer = _literal_path(api, method, path, headers=headers, json=body)
        assert answer.status_code == 422, (method, path, answer.status_code, answer.text[:300])
        assert error_shape(answer)["error"]["details"][0]["field"] == "path.org_id"


@pytest.mark.parametrize("org_id", [".", "..", "...", "a/b", "a#b", "x" * 5000])
def test_a_token_naming_an_organization_id_that_is_not_one_is_401(api: Api, stack: LocalStack, org_id: str) -> None:
    for role in ("org_admin", "reporter"):
        answer = api.get("/v1/orgs/acme/plans", role=role, org_id=org_id)
        assert answer.status_code == 401, (role, answer.text[:300])
        error_shape(answer)
    fine = api.get("/v1/orgs/acme.1/plans", role="org_admin", org_id="acme.1")
    assert fine.status_code == 200, fine.text
