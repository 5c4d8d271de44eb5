"""Issue 20, items 7 and 8, through HTTP on the local stack: CSV formula variants in a real export
(CSV and XLSX), a plan's currency and price, an address two organizations subscribe, and a token
whose org_id is no organization id."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from openpyxl.utils.escape import unescape

from license_usage.domain.access import Principal, Role
from license_usage.domain.errors import Unauthenticated
from tests.api.test_exports import download, xlsx_sheets
from tests.conftest import Api
from tests.support import Stack, create_key, create_plan, iso, login, new_org, roll_up, send, vendor

# ---------------------------------------------------------------------- CSV formula variants (item 7)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\x0b", "|", "＝", "＋", "－", "＠", " ", "\xa0", "\u200b")


def test_every_formula_variant_is_neutralised_in_csv_and_xlsx_and_numbers_stay_numbers(stack: Stack, api: Api) -> None:
    org = new_org("xvariants")
    key = create_key(stack, org)
    plan = create_plan(
        stack, org, type="seats", product="learn", amount=20, start=iso(datetime.now(UTC) - timedelta(days=40))
    )
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    users = {
        # user id: (roles, group)
        "ann": (["r", "=1+1"], "\n=1+1"),
        "＝1+1": (["coach"], "\u200b=1"),
        " =1": (["coach", " -2"], "\xa0=1"),
        "|cmd": ([], "\x0b=1"),
        "learn": (["coach", "admin"], "a-b"),
        "O'Neil": (["a-b"], "learn"),
    }
    events: list[dict[str, Any]] = []
    for number, (user_id, (roles, group)) in enumerate(users.items()):
        created: dict[str, Any] = {"id": f"c{number}", "type": "user.created", "timestamp": iso(at), "user_id": user_id}
        if roles:
            created["roles"] = roles
        events.append(created)
        events.append(login(f"l{number}", user_id, iso(at + timedelta(minutes=number + 1)), group=group))
    answer = send(stack, key, events)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == len(events), answer.text
    roll_up(stack)

    _, content = download(api, org, {"report": "users", "plan_id": plan["plan_id"]})
    text = content.decode("utf-8")
    table = list(csv.reader(io.StringIO(text)))
    header, rows = table[0], table[1:]
    assert header[:6] == ["user_id", "status", "roles", "group", "first_login", "last_login"]
    by_user = {row[0].removeprefix("'"): row for row in rows}
    assert set(by_user) == set(users)
    for user_id, (roles, group) in users.items():
        row = by_user[user_id]
        ordinary = user_id in ("ann", "learn", "O'Neil")
        assert row[0] == (user_id if ordinary else "'" + user_id)
        list_cell = ";".join(roles)
        formula_list = any(role.lstrip().startswith(("=", "-")) for role in roles)
        assert row[2] == ("'" + list_cell if formula_list else list_cell)
        assert row[3] == (group if group in ("a-b", "learn") else "'" + group)
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS), (cell, row)
    # Every text cell is quoted (a ';' inside one never starts another cell), numbers are not:
    # the month columns (0 or 1) are bare digits.
    assert '"\'r;=1+1"' in text
    months = len(header) - 6
    assert months >= 1
    ann_line = next(line for line in text.split("\r\n") if line.startswith('"ann",'))
    assert all(part in ("0", "1") for part in ann_line.rsplit(",", months)[1:]), ann_line

    _, content = download(api, org, {"report": "users", "plan_id": plan["plan_id"], "format": "xlsx"})
    sheet = xlsx_sheets(content)["users"]
    assert [str(c) for c in sheet[0]] == header
    for row in sheet[1:]:
        csv_row = by_user[str(row[0]).removeprefix("'")]
        # The same neutralised text (control characters are _xHHHH_ in the sheet's XML, as OOXML writes them).
        assert [("" if c is None else unescape(c)) for c in row[:4]] == csv_row[:4]
        assert all(isinstance(c, int) and not isinstance(c, bool) for c in row[6:]), row  # numbers


# ---------------------------------------------------------------------- currency and price (item 8)


def _post_plan(stack: Stack, org_id: str, **terms: Any) -> requests.Response:
    body = {"type": "seats", "product": "learn", "amount": 5, "start": iso(datetime.now(UTC)), **terms}
    return requests.post(f"{stack.url}/v1/orgs/{org_id}/plans", json=body, headers=vendor(stack), timeout=30)


def _refused_naming(answer: requests.Response, field: str) -> None:
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    assert isinstance(error["message"], str)
    assert error["message"]
    assert field in [detail["field"].split(".")[0] for detail in error["details"]], error


@pytest.mark.parametrize("currency", ["ABC", "XXX", "XTS", "XAU", "HRK", "ANG", "QQQ"])
def test_a_currency_that_is_not_an_active_iso_4217_code_is_refused(stack: Stack, currency: str) -> None:
    org = new_org("cur")
    _refused_naming(_post_plan(stack, org, unit_price="10", currency=currency), "currency")
    plans = requests.get(f"{stack.url}/v1/orgs/{org}/plans", headers=vendor(stack), timeout=30).json()["items"]
    assert plans == []  # nothing stored


@pytest.mark.parametrize("price", ["0", "0.0", "0.0000", "-1", "-0.01"])
def test_a_price_of_zero_or_less_is_refused(stack: Stack, price: str) -> None:
    _refused_naming(_post_plan(stack, new_org("price"), unit_price=price, currency="EUR"), "unit_price")


def test_a_positive_price_in_an_active_currency_is_taken_and_a_renewal_is_held_to_the_same_rule(stack: Stack) -> None:
    org = new_org("price")
    for currency, price in (("EUR", "0.0001"), ("JPY", "1200"), ("XCG", "12.50"), ("CHF", "99")):
        answer = _post_plan(stack, org, product=f"p-{currency.lower()}", unit_price=price, currency=currency)
        assert answer.status_code == 201, answer.text
        assert answer.json()["currency"] == currency
    plan_id = answer.json()["plan_id"]
    renewal = f"{stack.url}/v1/orgs/{org}/plans/{plan_id}/renewal"
    for body, field in (
        ({"unit_price": "0", "currency": "EUR"}, "unit_price"),
        ({"unit_price": "5", "currency": "ABC"}, "currency"),
    ):
        _refused_naming(requests.post(renewal, json=body, headers=vendor(stack), timeout=30), field)


# ---------------------------------------------------------------------- an address two organizations subscribe (item 8)


def _topic_subscriptions(stack: Stack, email: str) -> list[dict[str, Any]]:
    sns = stack.client("sns")
    found = []
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(
        TopicArn=stack.env["NOTIFICATIONS_TOPIC_ARN"]
    ):
        for sub in page["Subscriptions"]:
            if sub["Protocol"] == "email" and sub["Endpoint"].lower() == email.lower():
                attributes = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])["Attributes"]
                found.append(
                    {"arn": sub["SubscriptionArn"], "policy": json.loads(attributes.get("FilterPolicy") or "{}")}
                )
    return found


def _delivered(stack: Stack, policy: dict[str, Any], messages: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of ``messages`` ((org_id, kind) attributes) a subscriber with ``policy`` gets: an SQS
    queue subscribed with it (moto shows nothing of email deliveries), as the notices are published."""
    sqs, sns = stack.client("sqs"), stack.client("sns")
    queue = sqs.create_queue(QueueName=f"policy-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = stack.env["NOTIFICATIONS_TOPIC_ARN"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={
            "FilterPolicy": json.dumps(policy),
            "FilterPolicyScope": "MessageAttributes",
            "RawMessageDelivery": "true",
        },
    )
    for org_id, kind in messages:
        sns.publish(
            TopicArn=topic,
            Message=f"{org_id} {kind}",
            MessageAttributes={
                "org_id": {"DataType": "String", "StringValue": org_id},
                "kind": {"DataType": "String", "StringValue": kind},
            },
        )
    got: set[tuple[str, str]] = set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            org_id, kind = message["Body"].split(" ")
            got.add((org_id, kind))
    return got


def test_an_address_another_organization_subscribed_is_answered_as_a_new_one_and_stays_scoped(
    api: Api, stack: Stack
) -> None:
    first, second, third = new_org("suba"), new_org("subb"), new_org("subc")
    email = f"shared-{uuid.uuid4().hex[:8]}@example.com"

    def path(org: str) -> str:
        return f"/v1/orgs/{org}/notification-subscriptions"

    narrow = api.post(path(first), role="org_admin", org_id=first, json={"email": email, "kinds": ["usage.overdraft"]})
    assert narrow.status_code == 201, narrow.text
    shared = api.post(path(second), role="org_admin", org_id=second, json={"email": email})
    fresh = api.post(
        path(second), role="org_admin", org_id=second, json={"email": f"new-{uuid.uuid4().hex[:8]}@example.com"}
    )
    assert shared.status_code == fresh.status_code == 201, (shared.text, fresh.text)
    # Exactly as for a new address: the same fields, the same status, nothing of the other organization.
    assert sorted(shared.json()) == sorted(fresh.json())
    assert shared.json()["status"] == fresh.json()["status"]
    assert (shared.json()["email"], shared.json()["kinds"]) == (email, [])
    assert shared.json()["subscription_id"] != narrow.json()["subscription_id"]
    assert first not in shared.text

    # Each organization lists its own subscription only.
    def listed(org: str) -> list[tuple[str, str, list[str]]]:
        items = api.get(path(org), role="org_admin", org_id=org).json()["items"]
        return sorted((s["subscription_id"], s["email"], s["kinds"]) for s in items)

    assert listed(first) == [(narrow.json()["subscription_id"], email, ["usage.overdraft"])]
    assert (shared.json()["subscription_id"], email, []) in listed(second)
    assert listed(third) == []

    # One SNS subscription for the address, whose policy delivers each organization's own notices.
    (subscription,) = _topic_subscriptions(stack, email)
    messages = [(org, kind) for org in (first, second, third) for kind in ("usage.overdraft", "plan.expired")]
    assert _delivered(stack, subscription["policy"], messages) == {
        (first, "usage.overdraft"),
        (second, "usage.overdraft"),
        (second, "plan.expired"),
    }

    # Unsubscribing in one organization leaves the other's subscription as it was.
    gone = api.delete(f"{path(first)}/{narrow.json()['subscription_id']}", role="org_admin", org_id=first)
    assert gone.status_code == 200, gone.text
    assert listed(first) == []
    assert (shared.json()["subscription_id"], email, []) in listed(second)
    (subscription,) = _topic_subscriptions(stack, email)
    assert _delivered(stack, subscription["policy"], messages) == {
        (second, "usage.overdraft"),
        (second, "plan.expired"),
    }

    # Subscribing again in the first organization, then leaving in the second, the same.
    again = api.post(path(first), role="org_admin", org_id=first, json={"email": email.upper()})
    assert again.status_code == 201, again.text
    gone = api.delete(f"{path(second)}/{shared.json()['subscription_id']}", role="org_admin", org_id=second)
    assert gone.status_code == 200, gone.text
    (subscription,) = _topic_subscriptions(stack, email)
    assert _delivered(stack, subscription["policy"], messages) == {(first, "usage.overdraft"), (first, "plan.expired")}

    # The last organization to leave takes the SNS subscription with it.
    gone = api.delete(f"{path(first)}/{again.json()['subscription_id']}", role="org_admin", org_id=first)
    assert gone.status_code == 200, gone.text
    assert _topic_subscriptions(stack, email) == []


# ---------------------------------------------------------------------- a token's org_id (item 8)


@pytest.mark.parametrize("org_id", ["a" * 5000, "a" * 65, ".", "..", "a#b", "a/b", "ünï"])
def test_a_token_whose_org_id_is_no_organization_id_is_refused_before_the_rate_limiter(
    stack: Stack, org_id: str
) -> None:
    logged = len(stack.log())
    headers = {"Authorization": f"Bearer {stack.token('org_admin', org_id)}"}
    for method, route in (("GET", "/v1/orgs/acme/plans"), ("GET", "/v1/orgs/acme/notifications"), ("GET", "/v1/orgs")):
        answer = requests.request(method, f"{stack.url}{route}", headers=headers, timeout=30)
        assert answer.status_code in (401, 403), (route, answer.status_code, answer.text)
    time.sleep(0.5)  # the workers' last lines reach the stack's log
    since = stack.log()[logged:]
    assert "rate limit" not in since, since[-2000:]
    # The authorizer's "Unauthorized" is API Gateway's signal for 401 (logged as the exception it
    # is); no function logged an error.
    errors = [line for line in since.splitlines() if "ERROR" in line and "Exception: Unauthorized" not in line]
    assert errors == []
    # A token of a real organization is let through as before.
    good = requests.get(
        f"{stack.url}/v1/orgs/acme/plans",
        headers={"Authorization": f"Bearer {stack.token('org_admin', 'acme')}"},
        timeout=30,
    )
    assert good.status_code == 200, good.text


def test_a_function_does_not_take_such_an_org_id_from_an_authorizer_context_either() -> None:
    for org_id in ("a" * 5000, ".", ".."):
        with pytest.raises(Unauthenticated):
            Principal.from_authorizer_context({"role": "org_admin", "org_id": org_id, "subject": "s"})
    assert Principal.from_authorizer_context({"role": "reporter", "org_id": "acme", "subject": "s"}).org_id == "acme"
    assert (
        Principal.from_authorizer_context({"role": "vendor_admin", "org_id": "", "subject": "s"}).role
        is Role.VENDOR_ADMIN
    )
