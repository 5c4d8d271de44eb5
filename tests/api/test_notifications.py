"""SPEC §7 notifications through the local stack: the daily run replayed at chosen instants,
notices raised at claim and ingest time, each stored once and published once to SNS and to the
bus. What reached SNS is read from an SQS queue subscribed with the filter policy an email
subscriber of the organization gets; what reached the bus, from a rule with an SQS target."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Api
from tests.support import Stack, create_key, create_plan, invoke, iso, login, new_org, send

RUN = "NotificationsFunction"
DIGEST = "insights.digest"  # weekly, on Mondays: these tests run at any instant, so they leave it out


@dataclass
class Listener:
    """An organization's SNS messages and bus events, as SQS queues receive them."""

    stack: Stack
    org_id: str
    topic_queue: str
    bus_queue: str

    def _drain(self, queue_url: str, settle: float = 0.3) -> list[dict[str, Any]]:
        # moto delivers to a subscribed queue within the Publish or PutEvents call, so what a
        # finished run sent is there already; ``settle`` is how long the queue must stay empty.
        sqs = self.stack.client("sqs")
        found: list[dict[str, Any]] = []
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < settle:
            answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = answer.get("Messages", [])
            if messages:
                quiet_since = time.monotonic()
            for message in messages:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            if not messages:
                time.sleep(0.1)
        return found

    def sns(self) -> list[dict[str, Any]]:
        messages = self._drain(self.topic_queue)
        return [m for m in messages if m["MessageAttributes"]["kind"]["Value"] != DIGEST]

    def bus(self) -> list[dict[str, Any]]:
        return [e for e in self._drain(self.bus_queue) if e["detail-type"] != DIGEST]


def listen(stack: Stack, org_id: str) -> Listener:
    sqs, sns, events = stack.client("sqs"), stack.client("sns"), stack.client("events")
    name = uuid.uuid4().hex[:12]
    topic_queue = sqs.create_queue(QueueName=f"topic-{name}")["QueueUrl"]
    bus_queue = sqs.create_queue(QueueName=f"bus-{name}")["QueueUrl"]

    def arn(url: str) -> str:
        return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    sns.subscribe(
        TopicArn=stack.env["NOTIFICATIONS_TOPIC_ARN"],
        Protocol="sqs",
        Endpoint=arn(topic_queue),
        # What POST …/notification-subscriptions gives an email subscriber of the organization.
        Attributes={"FilterPolicy": json.dumps({"org_id": [org_id]}), "FilterPolicyScope": "MessageAttributes"},
    )
    bus = stack.env["EVENT_BUS_NAME"]
    rule = f"rule-{name}"
    pattern = {"source": ["license-usage"], "detail": {"org_id": [org_id]}}
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn(bus_queue)}])
    return Listener(stack, org_id, topic_queue, bus_queue)


def notices(api: Api, org_id: str) -> list[dict[str, Any]]:
    """The organization's notices but the weekly insights digest (a run at a Monday instant also
    sends that one: tests/api/test_insights.py tests it)."""
    answer = api.get(f"/v1/orgs/{org_id}/notifications", role="org_admin", org_id=org_id)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return [item for item in items if item["kind"] != DIGEST]


def of_kind(items: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [item for item in items if item["kind"] == kind]


def claim(api: Api, org_id: str, user_id: str) -> int:
    answer = api.put(f"/v1/orgs/{org_id}/seats/{user_id}", role="org_admin", org_id=org_id)
    assert answer.status_code in (200, 409), answer.text
    return answer.status_code


def side_by_side(calls: list[Callable[[], object]]) -> None:
    """Start every call at once, in threads, and wait for all."""
    threads = [threading.Thread(target=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def seats_plan(stack: Stack, org_id: str, **terms: Any) -> dict[str, Any]:
    start = terms.pop("start", now() - timedelta(days=30))
    return create_plan(stack, org_id, type="seats", product="learn", start=iso(start), **terms)


# ---------------------------------------------------------------------- plan.expiring and friends


def test_a_plan_ending_in_six_and_a_half_days_gets_one_seven_day_notice(stack: Stack, api: Api) -> None:
    org = new_org("expiring")
    heard = listen(stack, org)
    end = now() + timedelta(days=6, hours=12)
    plan = seats_plan(stack, org, amount=10, start=end - timedelta(days=200), end=iso(end))
    first = invoke(stack, RUN, now())
    invoke(stack, RUN, now() + timedelta(hours=1))
    assert first["organizations"] >= 1

    listed = of_kind(notices(api, org), "plan.expiring")
    assert [(n["plan_id"], n["threshold"]) for n in listed] == [(plan["plan_id"], 7)]
    notice = listed[0]
    assert notice["data"]["days_left"] == 7
    assert notice["data"]["plan_end"] == iso(end)
    assert org in notice["message"]
    assert plan["plan_id"] in notice["message"]
    assert "What to do" in notice["message"]

    sns = heard.sns()
    assert len(sns) == 1
    message = sns[0]
    assert message["Subject"] == notice["subject"]
    assert "ends in 7 days" in message["Subject"]
    assert message["Message"] == notice["message"]
    attributes = {k: v["Value"] for k, v in message["MessageAttributes"].items()}
    assert attributes == {"org_id": org, "kind": "plan.expiring"}

    bus = heard.bus()
    assert len(bus) == 1
    assert bus[0]["source"] == "license-usage"
    assert bus[0]["detail-type"] == "plan.expiring"
    assert bus[0]["detail"] == notice


def test_a_renewed_plan_gets_no_expiry_notices(stack: Stack, api: Api) -> None:
    org = new_org("renewed")
    end = now() + timedelta(days=6, hours=12)
    plan = seats_plan(stack, org, amount=10, start=end - timedelta(days=200), end=iso(end), grace_days=5)
    renewal = api.post(f"/v1/orgs/{org}/plans/{plan['plan_id']}/renewal", role="vendor_admin", json={})
    assert renewal.status_code == 201, renewal.text
    for at in (now(), end + timedelta(hours=1), end + timedelta(days=4, hours=12)):
        invoke(stack, RUN, at)
    kinds = {n["kind"] for n in notices(api, org) if n["plan_id"] == plan["plan_id"]}
    assert not kinds & {"plan.expiring", "plan.expired", "plan.grace_ending"}


def test_expired_and_grace_ending_once_each(stack: Stack, api: Api) -> None:
    org = new_org("grace")
    heard = listen(stack, org)
    end = now() - timedelta(hours=1)
    plan = seats_plan(stack, org, amount=5, start=end - timedelta(days=100), end=iso(end), grace_days=3)
    for at in (now(), now() + timedelta(hours=2), end + timedelta(days=2, hours=1), end + timedelta(days=2, hours=5)):
        invoke(stack, RUN, at)
    listed = [(n["kind"], n["threshold"]) for n in notices(api, org) if n["plan_id"] == plan["plan_id"]]
    assert sorted(listed) == [("plan.expired", None), ("plan.grace_ending", None)]
    assert sorted(m["MessageAttributes"]["kind"]["Value"] for m in heard.sns()) == [
        "plan.expired",
        "plan.grace_ending",
    ]


# ---------------------------------------------------------------------- usage notices at once


def test_claims_raise_threshold_and_overdraft_at_once_and_only_once(stack: Stack, api: Api) -> None:
    org = new_org("claims")
    heard = listen(stack, org)
    seats_plan(stack, org, amount=10)
    for n in range(7):
        claim(api, org, f"user-{n}")
    assert notices(api, org) == []
    claim(api, org, "user-7")  # 8 of 10
    assert [(n["kind"], n["threshold"]) for n in notices(api, org)] == [("usage.threshold", 80)]
    for n in range(8, 11):  # 11 of 10
        claim(api, org, f"user-{n}")
    listed = notices(api, org)
    assert sorted((n["kind"], n["threshold"]) for n in listed) == [
        ("usage.overdraft", None),
        ("usage.threshold", 80),
        ("usage.threshold", 100),
    ]
    assert [n["created_at"] for n in listed] == sorted((n["created_at"] for n in listed), reverse=True)
    overdraft = of_kind(listed, "usage.overdraft")[0]
    assert overdraft["data"]["consumed"] == 11
    assert overdraft["data"]["overage"] == 1
    for hours in (0, 1, 30):
        invoke(stack, RUN, now() + timedelta(hours=hours))
    assert len(notices(api, org)) == 3
    assert Counter(m["MessageAttributes"]["kind"]["Value"] for m in heard.sns()) == {
        "usage.threshold": 2,
        "usage.overdraft": 1,
    }
    assert len(heard.bus()) == 3


def test_two_refused_claims_give_one_hard_limit_notice(stack: Stack, api: Api) -> None:
    org = new_org("hard")
    heard = listen(stack, org)
    seats_plan(stack, org, amount=2, enforcement="hard", notify_at=[])
    assert claim(api, org, "a") == 200
    assert claim(api, org, "b") == 200
    assert claim(api, org, "c") == 409
    assert claim(api, org, "d") == 409
    hard = of_kind(notices(api, org), "usage.hard_limit")
    assert len(hard) == 1
    assert hard[0]["data"]["refused_user_id"] == "c"
    assert [m["MessageAttributes"]["kind"]["Value"] for m in heard.sns()] == ["usage.hard_limit"]


def test_ingest_raises_notices_when_logins_cross_the_line(stack: Stack, api: Api) -> None:
    org = new_org("ingest")
    key = create_key(stack, org)
    start = now() - timedelta(days=40)
    plan = create_plan(stack, org, type="mau", product="learn", amount=5, start=iso(start), notify_at=[60, 100])
    stamp = iso(now() - timedelta(minutes=5))
    answer = send(stack, key, [login(f"e{n}", f"u{n}", stamp) for n in range(3)])
    assert answer.status_code == 200, answer.text
    listed = notices(api, org)
    assert [(n["kind"], n["threshold"], n["data"]["month"]) for n in listed] == [
        ("usage.threshold", 60, now().strftime("%Y-%m"))
    ]
    answer = send(stack, key, [login(f"f{n}", f"v{n}", stamp) for n in range(3)])  # 6 of 5
    kinds = sorted((n["kind"], n["threshold"]) for n in notices(api, org))
    assert kinds == [("usage.overdraft", None), ("usage.threshold", 60), ("usage.threshold", 100)]
    assert all(n["plan_id"] == plan["plan_id"] for n in notices(api, org))


def test_the_daily_run_sends_a_forecast_of_exhaustion(stack: Stack, api: Api) -> None:
    org = new_org("forecast")
    key = create_key(stack, org)
    start = now() - timedelta(days=20)
    create_plan(stack, org, type="mauc", product="learn", amount=100, start=iso(start), notify_at=[95])
    # 60 credits in the last 20 days: 2 a day, 40 left, out in 20 days (within 30).
    events = [login(f"e{n}", f"u{n}", iso(now() - timedelta(days=n % 20, minutes=5))) for n in range(60)]
    assert send(stack, key, events).status_code == 200
    assert of_kind(notices(api, org), "usage.forecast_exhaustion") == []  # ingest knows no forecast
    invoke(stack, RUN, now())
    invoke(stack, RUN, now() + timedelta(minutes=30))
    forecast = of_kind(notices(api, org), "usage.forecast_exhaustion")
    assert len(forecast) == 1
    assert forecast[0]["data"]["forecast_exhausted_on"] is not None
    assert forecast[0]["data"]["consumed"] == 60


# ---------------------------------------------------------------------- exactly once under races


def test_overlapping_runs_send_each_notice_once(stack: Stack, api: Api) -> None:
    org = new_org("overlap")
    heard = listen(stack, org)
    end = now() + timedelta(days=29)
    seats_plan(stack, org, amount=3, start=end - timedelta(days=100), end=iso(end))
    for user in ("a", "b", "c", "d"):
        claim(api, org, user)
    at = now()
    results: list[dict[str, Any]] = []
    side_by_side([lambda: results.append(invoke(stack, RUN, at)) for _ in range(3)])
    assert len(results) == 3
    kinds = Counter(n["kind"] for n in notices(api, org))
    assert kinds == {"plan.expiring": 1, "usage.threshold": 1, "usage.overdraft": 1}
    assert Counter(m["MessageAttributes"]["kind"]["Value"] for m in heard.sns()) == kinds
    assert len(heard.bus()) == 3


def test_ingest_racing_a_run_sends_each_notice_once(stack: Stack, api: Api) -> None:
    org = new_org("race")
    heard = listen(stack, org)
    seats_plan(stack, org, amount=10)
    for n in range(7):
        claim(api, org, f"user-{n}")
    done: list[int] = []
    racers: list[Callable[[], object]] = [lambda: invoke(stack, RUN, now())]
    racers += [lambda n=n: done.append(claim(api, org, f"late-{n}")) for n in range(5)]  # type: ignore[misc]
    side_by_side(racers)
    invoke(stack, RUN, now())
    kinds = Counter((n["kind"], n["threshold"]) for n in notices(api, org))
    assert set(kinds.values()) == {1}, kinds  # each notice once
    assert {("usage.threshold", 100), ("usage.overdraft", None)} <= set(kinds)  # the last run saw every claim
    # The racing run may have seen 7 to 12 claims: at 80 % it also sends that threshold, and
    # below 100 % the pace's forecast of exhaustion.
    assert set(kinds) <= {
        ("usage.threshold", 80),
        ("usage.threshold", 100),
        ("usage.overdraft", None),
        ("usage.forecast_exhaustion", None),
    }, kinds
    assert len(heard.sns()) == sum(kinds.values())


def test_a_writer_that_dies_before_publishing_loses_nothing(stack: Stack, api: Api) -> None:
    org = new_org("outbox")
    heard = listen(stack, org)
    end = now() + timedelta(days=6, hours=12)
    seats_plan(stack, org, amount=10, start=end - timedelta(days=200), end=iso(end))
    switches = {"NOTICE_LEASE_SECONDS": "1"}
    invoke(stack, RUN, now(), env={**switches, "LICENSE_USAGE_FAULTS": "after_notice_stored"}, expect_ok=False)
    crashed = time.monotonic()  # the notice was stored, its lease taken, before the run failed
    assert len(of_kind(notices(api, org), "plan.expiring")) == 1  # stored, not published
    assert heard.sns() == []
    while time.monotonic() < crashed + 1.5:  # the dead writer's lease (1 s) runs out
        time.sleep(0.05)
    result = invoke(stack, RUN, now() + timedelta(minutes=5), env=switches)
    assert result["republished"] >= 1
    assert [m["MessageAttributes"]["kind"]["Value"] for m in heard.sns()] == ["plan.expiring"]
    assert [e["detail-type"] for e in heard.bus()] == ["plan.expiring"]
    invoke(stack, RUN, now() + timedelta(minutes=10), env=switches)
    assert heard.sns() == []
    assert len(notices(api, org)) == 1


# ---------------------------------------------------------------------- access and subscriptions


def test_only_the_organizations_admins_read_its_notifications(stack: Stack, api: Api) -> None:
    org, other = new_org("mine"), new_org("theirs")
    path = f"/v1/orgs/{org}/notifications"
    assert api.get(path, role="org_admin", org_id=other).status_code == 403
    assert api.get(path, role="reporter", org_id=org).status_code == 403
    assert api.get(path).status_code == 401
    assert api.get(path, role="org_admin", org_id=org).status_code == 200
    assert api.get(path, role="vendor_admin").status_code == 200
    sub_path = f"/v1/orgs/{org}/notification-subscriptions"
    assert api.post(sub_path, role="org_admin", org_id=other, json={"email": "x@example.com"}).status_code == 403
    assert api.get(sub_path, role="reporter", org_id=org).status_code == 403


def test_notifications_page_newest_first(stack: Stack, api: Api) -> None:
    org = new_org("pages")
    seats_plan(stack, org, amount=4, notify_at=[25, 50, 75, 100])
    for n in range(5):
        claim(api, org, f"u{n}")
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get(f"/v1/orgs/{org}/notifications", role="org_admin", org_id=org, params=params).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5  # 25, 50, 75, 100 and the overdraft
    assert [n["created_at"] for n in seen] == sorted((n["created_at"] for n in seen), reverse=True)
    bad = api.get(f"/v1/orgs/{new_org()}/notifications", role="vendor_admin", params={"cursor": cursor or "x.y"})
    assert bad.status_code == 400


def test_email_subscriptions_are_filtered_to_their_organization(stack: Stack, api: Api) -> None:
    org = new_org("subs")
    path = f"/v1/orgs/{org}/notification-subscriptions"
    created = api.post(path, role="org_admin", org_id=org, json={"email": "ann@example.com"})
    assert created.status_code == 201, created.text
    narrow = api.post(
        path, role="org_admin", org_id=org, json={"email": "bob@example.com", "kinds": ["usage.overdraft"]}
    )
    assert narrow.status_code == 201, narrow.text
    listed = api.get(path, role="org_admin", org_id=org).json()["items"]
    assert sorted((s["email"], s["kinds"]) for s in listed) == [
        ("ann@example.com", []),
        ("bob@example.com", ["usage.overdraft"]),
    ]
    assert all(s["status"] in ("pending", "confirmed") for s in listed)
    again = api.post(path, role="org_admin", org_id=org, json={"email": "ann@example.com", "kinds": ["plan.expired"]})
    assert again.json()["subscription_id"] == created.json()["subscription_id"]

    sns = stack.client("sns")
    topic = stack.env["NOTIFICATIONS_TOPIC_ARN"]
    policies = {}
    for sub in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]:
        if sub["Protocol"] == "email" and sub["Endpoint"] in ("ann@example.com", "bob@example.com"):
            attributes = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])["Attributes"]
            policy = json.loads(attributes["FilterPolicy"])
            if policy["org_id"] == [org]:
                policies[sub["Endpoint"]] = policy
    assert policies == {
        "ann@example.com": {"org_id": [org], "kind": ["plan.expired"]},
        "bob@example.com": {"org_id": [org], "kind": ["usage.overdraft"]},
    }

    # Another organization subscribing the same address is answered as for a new one (issue 20;
    # tests/api/test_small_hardening.py tests the two organizations' policies and listings).
    elsewhere = new_org("subs-other")
    shared = api.post(
        f"/v1/orgs/{elsewhere}/notification-subscriptions",
        role="org_admin",
        org_id=elsewhere,
        json={"email": "bob@example.com"},
    )
    assert shared.status_code == 201, shared.text

    sub_id = created.json()["subscription_id"]
    assert api.delete(f"{path}/{sub_id}", role="org_admin", org_id=org).status_code == 200
    assert api.delete(f"{path}/{sub_id}", role="org_admin", org_id=org).status_code == 404
    assert [s["email"] for s in api.get(path, role="org_admin", org_id=org).json()["items"]] == ["bob@example.com"]
    audit = api.get(f"/v1/orgs/{org}/audit", role="org_admin", org_id=org).json()["items"]
    assert {"subscription.created", "subscription.deleted"} <= {entry["action"] for entry in audit}


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-address"},
        {"email": "a@b"},
        {"email": "ann@example.com", "kinds": []},
        {"email": "ann@example.com", "kinds": ["plan.nope"]},
        {"email": "ann@example.com", "extra": 1},
        {},
    ],
)
def test_bad_subscriptions_are_refused(stack: Stack, api: Api, body: dict[str, Any]) -> None:
    org = new_org("badsub")
    answer = api.post(f"/v1/orgs/{org}/notification-subscriptions", role="org_admin", org_id=org, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"]


@pytest.mark.parametrize("notify_at", [[0], [1001], [80, 80], ["80"], [80.5]])
def test_bad_notify_at_is_refused(stack: Stack, api: Api, notify_at: list[Any]) -> None:
    org = new_org("badnotify")
    answer = api.post(
        f"/v1/orgs/{org}/plans",
        role="vendor_admin",
        json={"type": "seats", "product": "learn", "amount": 5, "start": iso(now()), "notify_at": notify_at},
    )
    assert answer.status_code == 422, answer.text


def test_notify_at_is_kept_and_renewed(stack: Stack, api: Api) -> None:
    org = new_org("notifyat")
    plan = seats_plan(stack, org, amount=10, notify_at=[75, 90, 100, 120])
    assert plan["notify_at"] == [75, 90, 100, 120]
    renewed = api.post(f"/v1/orgs/{org}/plans/{plan['plan_id']}/renewal", role="vendor_admin", json={})
    assert renewed.json()["notify_at"] == [75, 90, 100, 120]
    changed = api.post(
        f"/v1/orgs/{org}/plans/{renewed.json()['plan_id']}/renewal", role="vendor_admin", json={"notify_at": [50]}
    )
    assert changed.json()["notify_at"] == [50]
    default = seats_plan(stack, new_org(), amount=3)
    assert default["notify_at"] == [80, 100]
