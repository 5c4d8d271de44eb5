"""SPEC §5 and §8 exports through the local stack: POST answers 202, the exports function picks
the job up from the SQS queue (the stack polls it as Lambda's event source mapping would), and
the file downloads from its presigned link, as CSV and as XLSX, with the spec's exact columns and
the API's own figures."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import openpyxl
import pytest
import requests

from tests.conftest import Api
from tests.support import Stack, create_key, create_plan, invoke, iso, login, new_org, roll_up, send

FORMULA = ("=", "+", "-", "@", "\t", "\r")


def start(api: Api, org_id: str, body: dict[str, Any], role: str = "org_admin") -> str:
    answer = api.post(f"/v1/orgs/{org_id}/exports", role=role, org_id=org_id, json=body)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "pending"
    export_id: str = answer.json()["export_id"]
    return export_id


def wait(api: Api, org_id: str, export_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer = api.get(f"/v1/orgs/{org_id}/exports/{export_id}", role="org_admin", org_id=org_id)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if body["status"] != "pending" or time.monotonic() > deadline:
            return body
        time.sleep(0.3)


def download(api: Api, org_id: str, body: dict[str, Any], role: str = "org_admin") -> tuple[dict[str, Any], bytes]:
    export = wait(api, org_id, start(api, org_id, body, role))
    assert export["status"] == "ready", export
    got = requests.get(export["url"], timeout=60)
    assert got.status_code == 200, got.text
    return export, got.content


def csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8"))))


def xlsx_sheets(content: bytes) -> dict[str, list[list[Any]]]:
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    return {sheet.title: [list(row) for row in sheet.iter_rows(values_only=True)] for sheet in book.worksheets}


def as_text(value: Any) -> str:
    """An XLSX cell as the CSV writes it."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return (
            value.strftime("%Y-%m-%d") if value.time() == datetime.min.time() else value.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    return str(value)


def until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Wait for ``condition`` (polled), failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout:.0f} s")
        time.sleep(0.1)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# ---------------------------------------------------------------------- the five reports


def test_a_mid_month_mauc_plans_consumption_export_has_its_13_months(stack: Stack, api: Api) -> None:
    org = new_org("xmauc")
    key = create_key(stack, org)
    start_at = datetime(now().year, now().month, 1, tzinfo=UTC) - timedelta(days=45)
    start_at = start_at.replace(day=15, hour=9)
    plan = create_plan(stack, org, type="mauc", product="learn", amount=50, start=iso(start_at))
    stamps = [iso(start_at + timedelta(days=d, hours=1)) for d in (0, 1, 20)]
    send(stack, key, [login(f"e{i}", f"u{i % 2}", stamp) for i, stamp in enumerate(stamps)])
    usage = api.get(f"/v1/orgs/{org}/plans/{plan['plan_id']}/usage", role="reporter", org_id=org).json()
    header = ["month", "month_start", "month_end", "credits_used", "cumulative_used", "credits_remaining", "overage"]
    expected = [[str(m[name]) for name in header] for m in usage["months"]]
    assert len(expected) == 13

    export, content = download(api, org, {"report": "consumption", "plan_id": plan["plan_id"]})
    rows = csv_rows(content)
    assert rows[0] == header
    assert rows[1:] == expected
    assert export["row_count"] == 13
    assert export["file_name"].startswith(f"{org}_consumption_{plan['plan_id']}")
    assert export["file_name"].endswith(".csv")

    _, content = download(api, org, {"report": "consumption", "plan_id": plan["plan_id"], "format": "xlsx"})
    sheets = xlsx_sheets(content)
    assert list(sheets) == ["consumption"]
    table = sheets["consumption"]
    assert [str(c) for c in table[0]] == header
    assert isinstance(table[1][1], datetime)
    assert isinstance(table[1][3], int)
    assert [[as_text(c) for c in row] for row in table[1:]] == expected


@pytest.fixture(scope="module")
def busy_org(stack: Stack) -> dict[str, Any]:
    """A seats plan with users (one with a formula-like id and group), lifecycle events, AI actions
    and a claim and release through the API (the audit trail)."""
    org = new_org("xbusy")
    key = create_key(stack, org)
    plan = create_plan(stack, org, type="seats", product="learn", amount=5, start=iso(now() - timedelta(days=40)))
    recent = now() - timedelta(days=2)
    events = [
        {"id": "c1", "type": "user.created", "timestamp": iso(recent), "user_id": "ann", "roles": ["coach", "admin"]},
        {"id": "c2", "type": "user.created", "timestamp": iso(recent), "user_id": "=HYPERLINK(1)", "group": "+SUM(A1)"},
        {"id": "i1", "type": "user.invited", "timestamp": iso(recent), "user_id": "@bob"},
        {"id": "q1", "type": "ai.quality_check", "timestamp": iso(recent), "user_id": "ann", "goal_id": "g1"},
        {"id": "s1", "type": "ai.suggest_goal", "timestamp": iso(recent), "user_id": "ann", "quantity": 2},
        login("l1", "ann", iso(recent + timedelta(hours=1)), group="-north", ip="10.0.0.1", instance_id="\tdev"),
        login("l2", "=HYPERLINK(1)", iso(recent + timedelta(hours=2))),
        login("l3", "@bob", iso(recent + timedelta(hours=3))),
    ]
    assert send(stack, key, events).json()["accepted"] == len(events)
    headers = {"Authorization": f"Bearer {stack.token('org_admin', org)}"}
    assert requests.put(f"{stack.url}/v1/orgs/{org}/seats/carl", headers=headers, timeout=30).status_code == 200
    assert requests.delete(f"{stack.url}/v1/orgs/{org}/seats/carl", headers=headers, timeout=30).status_code == 200
    roll_up(stack)
    return {"org": org, "plan": plan}


def _api_users(api: Api, org: str, plan_id: str) -> list[dict[str, Any]]:
    body = api.get(f"/v1/orgs/{org}/plans/{plan_id}/users", role="reporter", org_id=org).json()
    items: list[dict[str, Any]] = body["items"]
    return items


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_users_export_equals_the_users_api(stack: Stack, api: Api, busy_org: dict[str, Any], fmt: str) -> None:
    org, plan = busy_org["org"], busy_org["plan"]
    export, content = download(api, org, {"report": "users", "plan_id": plan["plan_id"], "format": fmt})
    table = csv_rows(content) if fmt == "csv" else [[as_text(c) for c in r] for r in xlsx_sheets(content)["users"]]
    users = _api_users(api, org, plan["plan_id"])
    months = list(users[0]["months"])
    assert table[0] == ["user_id", "status", "roles", "group", "first_login", "last_login", *months]
    expected = [
        [
            ("'" + u["user_id"]) if u["user_id"].startswith(FORMULA) else u["user_id"],
            u["status"] or "",
            ";".join(u["roles"]),
            ("'" + u["group"]) if (u["group"] or "").startswith(FORMULA) else (u["group"] or ""),
            u["first_login"] or "",
            u["last_login"] or "",
            *(str(u["months"][m]) for m in months),
        ]
        for u in users
    ]
    assert table[1:] == expected
    assert export["row_count"] == len(users) == 4  # ann, =HYPERLINK(1), @bob and carl (released)
    assert not [cell for row in table for cell in row if cell.startswith(FORMULA)]


def test_activity_and_audit_exports_equal_their_apis(stack: Stack, api: Api, busy_org: dict[str, Any]) -> None:
    org, plan = busy_org["org"], busy_org["plan"]
    _, content = download(api, org, {"report": "activity", "plan_id": plan["plan_id"]})
    rows = csv_rows(content)
    assert rows[0] == ["timestamp", "type", "user_id", "ip", "instance_id", "product", "details"]
    log = api.get(f"/v1/orgs/{org}/plans/{plan['plan_id']}/activity", role="reporter", org_id=org).json()["items"]

    def safe(text: str | None) -> str:
        return "" if text is None else ("'" + text if text.startswith(FORMULA) else text)

    assert [r[:6] for r in rows[1:]] == [
        [i["timestamp"], i["type"], safe(i["user_id"]), safe(i["ip"]), safe(i["instance_id"]), safe(i["product"])]
        for i in log
    ]
    assert [json.loads(r[6]) for r in rows[1:]] == [i["details"] for i in log]
    assert not [cell for row in rows for cell in row if cell.startswith(FORMULA)]

    _, content = download(api, org, {"report": "audit", "timeframe": "last_30_days", "format": "xlsx"})
    sheet = xlsx_sheets(content)["audit"]
    assert [str(c) for c in sheet[0]] == ["at", "actor", "actor_role", "action", "target", "before", "after"]
    trail = api.get(f"/v1/orgs/{org}/audit", role="org_admin", org_id=org).json()["items"]
    assert [(as_text(r[0]), r[3], r[4]) for r in sheet[1:]] == [(e["at"], e["action"], e["target"]) for e in trail]
    assert isinstance(sheet[1][0], datetime)


def test_license_ai_usage_export_has_its_weeks_and_the_xlsx_its_extra_sheets(
    stack: Stack, api: Api, busy_org: dict[str, Any]
) -> None:
    org = busy_org["org"]
    window = {"timeframe": "last_30_days"}
    report = api.get(f"/v1/orgs/{org}/reports/license-ai-usage", role="reporter", org_id=org, params=window).json()
    _, content = download(api, org, {"report": "license_ai_usage", **window})
    rows = csv_rows(content)
    assert rows[0] == [
        "week_start",
        "users_added",
        "users_invited",
        "users_deactivated",
        "users_deleted",
        "quality_check",
        "suggest_alignment",
        "suggest_goal",
        "ai_actions_total",
    ]
    people = {w["week_start"]: w for w in report["user_activity"]["weekly"]}
    ai = {w["week_start"]: w for w in report["ai_actions"]["weekly"]}
    expected = [
        [
            week,
            *(str(people[week][k]) for k in ("added", "invited", "deactivated", "deleted")),
            *(str(ai[week][k]) for k in ("quality_check", "suggest_alignment", "suggest_goal", "total")),
        ]
        for week in sorted(people)
    ]
    assert rows[1:] == expected
    assert sum(int(r[1]) for r in rows[1:]) == report["user_activity"]["totals"]["added"] == 2

    _, content = download(api, org, {"report": "license_ai_usage", "format": "xlsx", **window})
    sheets = xlsx_sheets(content)
    assert list(sheets) == ["license_ai_usage", "summary", "roles", "groups", "insights"]
    summary = {(r[0], r[1]): r[2] for r in sheets["summary"][1:]}
    assert summary[("ai_actions", "total")] == report["ai_actions"]["total"]
    assert summary[("window", "freshness")] == report["freshness"]
    assert {r[0]: r[1] for r in sheets["roles"][1:]} == report["roles_distribution"]
    assert sorted(tuple(r) for r in sheets["groups"][1:]) == sorted(
        (g["group"] if not g["group"].startswith(FORMULA) else "'" + g["group"], g["active_users"], g["ai_actions"])
        for g in report["consumption_by_group"]
    )


def test_the_xlsx_insights_sheet_holds_the_insights_the_api_answers(stack: Stack, api: Api) -> None:
    org = new_org("xinsights")
    key = create_key(stack, org)
    start = now() - timedelta(days=60)
    create_plan(
        stack, org, type="seats", product="learn", amount=4, start=iso(start), unit_price="12.5", currency="EUR"
    )
    events = [login(f"idle-{n}", f"idle{n}@x.example", iso(now() - timedelta(days=40))) for n in range(3)]
    assert send(stack, key, events).status_code == 200
    roll_up(stack)
    answer = api.get(f"/v1/orgs/{org}/insights", role="reporter", org_id=org).json()
    assert [i["kind"] for i in answer["items"]] == ["seats.reclaimable"]
    _, content = download(api, org, {"report": "license_ai_usage", "format": "xlsx", "timeframe": "this_month"})
    sheet = xlsx_sheets(content)["insights"]
    assert sheet[0] == [
        *("severity", "kind", "plan_id", "title", "detail", "evidence"),
        *("action_method", "action_path", "action_body", "id"),
    ]
    rows = [dict(zip(sheet[0], row, strict=True)) for row in sheet[1:]]
    assert [(r["id"], r["kind"], r["severity"], r["title"]) for r in rows] == [
        (i["id"], i["kind"], i["severity"], i["title"]) for i in answer["items"]
    ]
    assert json.loads(rows[0]["evidence"]) == answer["items"][0]["evidence"]
    assert (rows[0]["action_method"], rows[0]["action_path"]) == ("DELETE", answer["items"][0]["action"]["path"])


# ---------------------------------------------------------------------- links and access


def test_links_are_signed_fresh_and_expire_and_the_object_is_private(
    stack: Stack, api: Api, busy_org: dict[str, Any]
) -> None:
    org, plan = busy_org["org"], busy_org["plan"]
    export_id = start(api, org, {"report": "consumption", "plan_id": plan["plan_id"]})
    first = wait(api, org, export_id)
    query = parse_qs(urlsplit(first["url"]).query)
    assert query.get("X-Amz-Expires") == ["900"], first["url"]
    disposition = query["response-content-disposition"][0]
    assert org in disposition
    assert "consumption" in disposition
    assert plan["plan_id"] in disposition
    got = requests.get(first["url"], timeout=30)
    assert got.headers["Content-Disposition"] == disposition
    assert urlsplit(first["url"]).path.startswith(f"/{stack.env['EXPORTS_BUCKET']}/exports/{org}/")
    unsigned = requests.get(first["url"].split("?", 1)[0], timeout=30)
    assert unsigned.status_code == 403
    # Links are signed to the second: the next read is signed in a later one.
    signed = datetime.fromisoformat(first["expires_at"].replace("Z", "+00:00")) - timedelta(seconds=900)
    until(lambda: datetime.now(UTC) >= signed + timedelta(seconds=1), "a second after the first link was signed")
    second = wait(api, org, export_id)
    assert second["url"] != first["url"]
    assert second["expires_at"] > first["expires_at"]
    listed = api.get(f"/v1/orgs/{org}/exports", role="reporter", org_id=org).json()["items"]
    assert listed[0]["export_id"] == export_id  # newest first
    head = stack.client("s3").head_object(Bucket=stack.env["EXPORTS_BUCKET"], Key=f"exports/{org}/{export_id}.csv")
    assert head["ServerSideEncryption"] == "AES256"


def test_another_organization_and_api_keys_cannot_see_an_export(
    stack: Stack, api: Api, busy_org: dict[str, Any]
) -> None:
    org, plan = busy_org["org"], busy_org["plan"]
    export_id = start(api, org, {"report": "consumption", "plan_id": plan["plan_id"]})
    other = new_org("xother")
    path = f"/v1/orgs/{org}/exports/{export_id}"
    assert api.get(path, role="org_admin", org_id=other).status_code == 403
    assert api.get(path, role="reporter", org_id=other).status_code == 403
    assert api.get(f"/v1/orgs/{org}/exports", role="org_admin", org_id=other).status_code == 403
    key = create_key(stack, org)
    assert api.get(path, headers={"x-api-key": key}).status_code == 403
    assert api.post(f"/v1/orgs/{org}/exports", headers={"x-api-key": key}, json={"report": "audit"}).status_code == 403
    # The audit trail is the organization admins': a reporter can neither export it nor read its export.
    audit = start(api, org, {"report": "audit"})
    assert api.post(f"/v1/orgs/{org}/exports", role="reporter", org_id=org, json={"report": "audit"}).status_code == 403
    assert api.get(f"/v1/orgs/{org}/exports/{audit}", role="reporter", org_id=org).status_code == 403
    listed = api.get(f"/v1/orgs/{org}/exports", role="reporter", org_id=org).json()["items"]
    assert audit not in [e["export_id"] for e in listed]
    # Its own id under another organization's path is not found.
    assert api.get(f"/v1/orgs/{other}/exports/{export_id}", role="org_admin", org_id=other).status_code == 404
    # Another organization's plan cannot be exported from here.
    body = {"report": "users", "plan_id": plan["plan_id"]}
    assert api.post(f"/v1/orgs/{other}/exports", role="org_admin", org_id=other, json=body).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"report": "nope"},
        {"report": "users"},
        {"report": "consumption", "plan_id": "pln_0000000000000000", "timeframe": "this_month"},
        {"report": "audit", "plan_id": "pln_0000000000000000"},
        {"report": "audit", "timeframe": "custom"},
        {"report": "audit", "timeframe": "custom", "from": "2026-03-02", "to": "2026-03-01"},
        {"report": "audit", "timeframe": "next_year"},
        {"report": "audit", "format": "pdf"},
        {"report": "audit", "extra": 1},
    ],
)
def test_bad_export_requests_are_refused(stack: Stack, api: Api, body: dict[str, Any]) -> None:
    org = new_org("xbad")
    answer = api.post(f"/v1/orgs/{org}/exports", role="org_admin", org_id=org, json=body)
    assert answer.status_code in (400, 422), answer.text
    assert answer.json()["error"]["message"]


# ---------------------------------------------------------------------- retries and failures


def test_a_redelivered_job_neither_duplicates_nor_corrupts(stack: Stack, api: Api, busy_org: dict[str, Any]) -> None:
    org, plan = busy_org["org"], busy_org["plan"]
    export, content = download(api, org, {"report": "users", "plan_id": plan["plan_id"]})
    sqs = stack.client("sqs")
    queue = sqs.get_queue_url(QueueName=stack.info["resources"]["ExportsQueue"]["name"].rsplit("/", 1)[-1])
    for _ in range(2):
        sqs.send_message(
            QueueUrl=queue["QueueUrl"], MessageBody=json.dumps({"org_id": org, "export_id": export["export_id"]})
        )

    def delivered() -> bool:
        counts = sqs.get_queue_attributes(
            QueueUrl=queue["QueueUrl"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return all(int(count) == 0 for count in counts.values())

    until(delivered, "the export jobs' queue handled both deliveries")
    again = wait(api, org, export["export_id"])
    assert (again["status"], again["row_count"], again["finished_at"]) == (
        "ready",
        export["row_count"],
        export["finished_at"],
    )
    assert requests.get(again["url"], timeout=30).content == content
    listed = api.get(f"/v1/orgs/{org}/exports", role="reporter", org_id=org).json()["items"]
    assert len([e for e in listed if e["export_id"] == export["export_id"]]) == 1


def test_an_export_that_keeps_failing_says_so(stack: Stack, api: Api) -> None:
    org = new_org("xfail")
    with stack.fault_points("export_write"):  # every attempt's write of the file fails
        export_id = start(api, org, {"report": "audit"})
        failed = wait(api, org, export_id, timeout=60)
    assert failed["status"] == "failed", failed
    assert "after 3 attempts" in failed["error"]
    assert failed["url"] is None


# ---------------------------------------------------------------------- schedules


def test_a_weekly_schedule_run_twice_on_its_monday_makes_one_export_and_one_notice(
    stack: Stack, api: Api, busy_org: dict[str, Any]
) -> None:
    org = new_org("xsched")
    key = create_key(stack, org)
    send(stack, key, [login("l1", "ann", iso(now() - timedelta(days=3)))])
    path = f"/v1/orgs/{org}/report-schedules"
    created = api.post(path, role="org_admin", org_id=org, json={"report": "license_ai_usage", "cadence": "weekly"})
    assert created.status_code == 201, created.text
    schedule_id = created.json()["schedule_id"]
    assert api.post(path, role="reporter", org_id=org, json={"report": "audit", "cadence": "weekly"}).status_code == 403

    today = now().date()
    monday = today + timedelta(days=7 - today.weekday())
    at = datetime(monday.year, monday.month, monday.day, 1, 30, tzinfo=UTC)
    runs = [
        invoke(stack, "ScheduledExportsFunction", at),
        invoke(stack, "ScheduledExportsFunction", at + timedelta(hours=5)),
    ]
    assert [r["started"] > 0 for r in runs] == [True, False]

    listed = api.get(f"/v1/orgs/{org}/exports", role="reporter", org_id=org).json()["items"]
    assert len(listed) == 1
    assert listed[0]["schedule_id"] == schedule_id
    export = wait(api, org, listed[0]["export_id"])
    assert export["status"] == "ready"
    # The week before the run's Monday.
    assert (export["from"], export["to"]) == (
        (monday - timedelta(days=7)).isoformat(),
        (monday - timedelta(days=1)).isoformat(),
    )
    schedules = api.get(path, role="reporter", org_id=org).json()["items"]
    assert schedules[0]["last_export_id"] == export["export_id"]

    def ready_notices() -> list[dict[str, Any]]:
        items = api.get(f"/v1/orgs/{org}/notifications", role="org_admin", org_id=org).json()["items"]
        return [n for n in items if n["kind"] == "report.ready"]

    until(lambda: bool(ready_notices()), "the report.ready notice")
    ready = ready_notices()
    assert len(ready) == 1
    assert ready[0]["data"]["export_id"] == export["export_id"]
    # The next Monday runs again; a deleted schedule does not.
    assert invoke(stack, "ScheduledExportsFunction", at + timedelta(days=7))["started"] >= 1
    assert api.delete(f"{path}/{schedule_id}", role="org_admin", org_id=org).status_code == 200
    assert api.get(path, role="reporter", org_id=org).json()["items"] == []
    before = len(api.get(f"/v1/orgs/{org}/exports", role="reporter", org_id=org).json()["items"])
    invoke(stack, "ScheduledExportsFunction", at + timedelta(days=14))
    assert len(api.get(f"/v1/orgs/{org}/exports", role="reporter", org_id=org).json()["items"]) == before
    assert date.fromisoformat(export["to"]) < monday
