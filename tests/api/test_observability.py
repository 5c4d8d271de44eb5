"""Observability through the local stack (issue 14, item 7): every function's stdout reaches the
stack's log (or ``usage-local invoke``'s stderr) as on Lambda, so the tests read what CloudWatch
would get: EMF metric lines in namespace ``LicenseUsage`` and Powertools log lines whose
``correlation_id`` follows one request or job."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from license_usage.domain.rollups import rollup_lag_seconds
from tests.conftest import Api
from tests.support import Stack, create_key, create_plan, invoke_process, iso, login, new_org, send

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
LINE = re.compile(r"^\[(?P<source>[^\]]+)\] (?P<body>\{.*\})$")


def json_lines(text: str, source: str | None = None) -> list[dict[str, Any]]:
    """The JSON objects of a log, of one function when ``source`` is given (its logical id)."""
    found = []
    for line in text.splitlines():
        match = LINE.match(line)
        body = match["body"] if match else line if line.startswith("{") else None
        if body is None or (source is not None and (match is None or match["source"] != source)):
            continue
        try:
            found.append(json.loads(body))
        except ValueError:
            continue
    return found


def emf(lines: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """The EMF documents among ``lines`` that carry ``metric``."""
    return [
        line
        for line in lines
        if "_aws" in line and any(m["Name"] == metric for d in line["_aws"]["CloudWatchMetrics"] for m in d["Metrics"])
    ]


def values(document: dict[str, Any], metric: str) -> list[float]:
    """A metric's values in one EMF document (one number, or a list of them)."""
    value = document[metric]
    return [float(v) for v in value] if isinstance(value, list) else [float(value)]


def unit_of(document: dict[str, Any], metric: str) -> str:
    units = [m["Unit"] for d in document["_aws"]["CloudWatchMetrics"] for m in d["Metrics"] if m["Name"] == metric]
    return str(units[0])


def stack_lines_after(stack: Stack, offset: int, source: str, until: str, timeout: float = 10) -> list[dict[str, Any]]:
    """The JSON lines ``source`` wrote to the stack's log after ``offset``, once one of them holds
    ``until`` (the log is copied from the workers by a thread, a moment after they write)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = json_lines(stack.log()[offset:], source)
        if any(until in line for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def invoke_logging(stack: Stack, function: str, at: datetime) -> tuple[dict[str, Any], str]:
    """``usage-local invoke``, keeping what the function logged: the result and its log."""
    done = invoke_process(stack, function, at)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result, done.stderr


def test_an_ingest_request_emits_its_counts_and_seat_denials_and_logs_under_its_request_id(stack: Stack) -> None:
    org_id = new_org("obs")
    key = create_key(stack, org_id)
    start = iso(datetime.now(UTC) - timedelta(days=10))
    create_plan(stack, org_id, type="seats", product="learn", amount=1, enforcement="hard", start=start)
    create_plan(stack, org_id, type="seats", product="coach", amount=5, start=start)
    stamp = iso(datetime.now(UTC) - timedelta(hours=1))
    send(stack, key, [login("seen", "ann", stamp)])  # ann holds the one hard seat
    events = [login("seen", "ann", stamp), *(login(f"new{i}", f"user{i}", stamp) for i in range(3))]
    events.append(login("which", "bob", stamp, product=None))  # two products are current: refused
    events.append({"id": "bad", "type": "user.login", "timestamp": "yesterday"})  # refused by its shape

    offset = len(stack.log())
    answer = send(stack, key, events)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["duplicates"], len(body["rejected"])) == (3, 1, 2)
    request_id = answer.headers["x-amzn-RequestId"]
    lines = stack_lines_after(stack, offset, "IngestFunction", "_aws")

    # This request's document: the only one refusing 2 events (another invocation on the stack,
    # still finishing an earlier test's work, may have flushed its own since the offset).
    [document] = [d for d in emf(lines, "EventsAccepted") if d.get("EventsRejected") in (2, [2])]
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "LicenseUsage"
    assert document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert document["service"] == "license-usage"
    counts = [values(document, name) for name in ("EventsAccepted", "EventsDuplicate", "EventsRejected")]
    assert counts == [[3], [1], [2]]
    assert {unit_of(document, name) for name in ("EventsAccepted", "EventsDuplicate", "EventsRejected")} == {"Count"}
    assert values(document, "SeatDenials") == [3]  # the three new users found the hard seat taken
    assert unit_of(document, "SeatDenials") == "Count"
    assert sum(values(document, "NotificationsSent")) >= 1  # the hard limit's notice, at least

    # Exactly one "events recorded" line under this request's id (the correlation id is the request's).
    [recorded] = [
        line for line in lines if line.get("message") == "events recorded" and line.get("correlation_id") == request_id
    ]
    assert (recorded["accepted"], recorded["duplicates"], recorded["rejected"]) == (3, 1, 2)


def test_a_refused_seat_claim_counts_a_seat_denial(stack: Stack) -> None:
    org_id = new_org("obsclaim")
    create_plan(
        stack, org_id, type="seats", product="learn", amount=1, enforcement="hard", start="2026-01-01T00:00:00Z"
    )
    headers = {"x-api-key": create_key(stack, org_id)}
    url = f"{stack.url}/v1/orgs/{org_id}/seats"
    assert requests.put(f"{url}/ann", params={"product": "learn"}, headers=headers, timeout=60).status_code == 200
    offset = len(stack.log())
    refused = requests.put(f"{url}/bob", params={"product": "learn"}, headers=headers, timeout=60)
    assert refused.status_code == 409, refused.text
    lines = stack_lines_after(stack, offset, "ApiFunction", "SeatDenials")
    [document] = emf(lines, "SeatDenials")
    assert values(document, "SeatDenials") == [1]
    [refusal] = [line for line in lines if line.get("message") == "seat claim refused"]
    assert refusal["correlation_id"] == refused.headers["x-amzn-RequestId"]


def test_a_daily_rollup_records_how_late_it_settled_the_oldest_mark_under_its_event_id(stack: Stack) -> None:
    org_id = new_org("obslag")
    key = create_key(stack, org_id)
    assert send(stack, key, [login("l1", "ann", iso(datetime.now(UTC) - timedelta(hours=2)))]).status_code == 200
    marked = datetime.now(UTC)  # the mark's time is the request's "now", before this
    while (at := datetime.now(UTC)) < marked + timedelta(seconds=1):  # a run in a later second
        time.sleep(0.05)
    result, log = invoke_logging(stack, "DailyRollupFunction", at)
    assert any(day.startswith(f"{org_id}/") for day in result["days_rolled_up"])

    lines = json_lines(log)
    [document] = emf(lines, "RollupLagSeconds")
    assert unit_of(document, "RollupLagSeconds") == "Seconds"
    # The mark is due at the midnight after it (domain.rollups.rollup_lag_seconds, table-tested in
    # tests/domain): a run before then is not late; other tests' older marks may make it later.
    [lag] = values(document, "RollupLagSeconds")
    assert lag == result["lag_seconds"]
    assert lag == rollup_lag_seconds(at.replace(microsecond=0), [marked]) or lag > 0
    [summary] = [line for line in lines if line.get("message") == "daily rollup"]
    assert UUID.match(summary["correlation_id"])  # the EventBridge event's id
    assert summary["lag_seconds"] == result["lag_seconds"]
    assert summary["days"] == len(result["days_rolled_up"])

    # Nothing left to settle: no lag to report.
    again, log = invoke_logging(stack, "DailyRollupFunction", datetime.now(UTC))
    assert again["lag_seconds"] is None
    assert emf(json_lines(log), "RollupLagSeconds") == []


def test_an_export_records_its_duration_and_size_and_its_job_logs_under_the_export_id(stack: Stack, api: Api) -> None:
    org_id = new_org("obsexp")
    offset = len(stack.log())
    started = api.post(f"/v1/orgs/{org_id}/exports", role="org_admin", org_id=org_id, json={"report": "audit"})
    assert started.status_code == 202, started.text
    export_id = started.json()["export_id"]
    deadline = time.monotonic() + 60
    while (export := api.get(f"/v1/orgs/{org_id}/exports/{export_id}", role="org_admin", org_id=org_id).json())[
        "status"
    ] == "pending" and time.monotonic() < deadline:
        time.sleep(0.3)
    assert export["status"] == "ready", export
    content = requests.get(export["url"], timeout=30).content

    jobs = stack_lines_after(stack, offset, "ExportsFunction", "ExportBytes")
    [document] = [d for d in emf(jobs, "ExportBytes") if d.get("export_id") == export_id]
    assert values(document, "ExportBytes") == [len(content)]
    assert len(content) > 0
    assert unit_of(document, "ExportBytes") == "Bytes"
    assert values(document, "ExportDurationMs")[0] > 0
    assert unit_of(document, "ExportDurationMs") == "Milliseconds"
    [job] = [line for line in jobs if line.get("message") == "export job"]
    assert (job["correlation_id"], job["outcome"], job["size_bytes"]) == (export_id, "ready", len(content))

    # The request that started it logged the export id under its own request id: the join.
    requests_log = json_lines(stack.log()[offset:], "DeliveryFunction")
    [begun] = [line for line in requests_log if line.get("message") == "export started"]
    assert (begun["export_id"], begun["correlation_id"]) == (export_id, started.headers["x-amzn-RequestId"])


def test_an_export_marked_failed_counts_once(stack: Stack, api: Api) -> None:
    org_id = new_org("obsfail")
    offset = len(stack.log())
    with stack.fault_points("export_write"):  # every attempt's write of the file fails
        started = api.post(f"/v1/orgs/{org_id}/exports", role="org_admin", org_id=org_id, json={"report": "audit"})
        assert started.status_code == 202, started.text
        export_id = started.json()["export_id"]
        lines = stack_lines_after(stack, offset, "ExportsFunction", "ExportsFailed", timeout=60)
    failed = [d for d in emf(lines, "ExportsFailed") if d.get("export_id") == export_id]
    assert [values(d, "ExportsFailed") for d in failed] == [[1]]  # the last of its 3 attempts, only
    assert [d for d in emf(lines, "ExportBytes") if d.get("export_id") == export_id] == []
    attempts = [line for line in lines if line.get("correlation_id") == export_id and "attempt" in line]
    assert [(line["attempt"], line["outcome"]) for line in attempts] == [(3, "failed")]
