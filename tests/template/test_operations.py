"""Template checks of issue 14's hardening: log groups, retries and dead letters, encryption, access
logs, the per-organization rate limit's parameter, the operations alarms, checkov, and that
docs/operations.md covers every parameter and alarm."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.template.test_template import ROOT, TEMPLATE, Json, _as_list, _of_type, _walk

CHECKOV = ROOT / ".local" / "checkov-venv" / "bin" / "checkov"
OPERATIONS_DOC = ROOT / "docs" / "operations.md"
SCHEDULED = {"DailyRollupFunction", "MonthlyRollupFunction", "NotificationsFunction", "ScheduledExportsFunction"}
ALARM_TOPIC = {"Ref": "OpsAlarmTopic"}
METRICS_NAMESPACE = "LicenseUsage"
SERVICE_DIMENSION = [{"Name": "service", "Value": "license-usage"}]


def _functions(sam: Json) -> dict[str, Json]:
    return _of_type(sam, "AWS::Serverless::Function")


def _ref_target(value: Any) -> str | None:
    """The logical id a ``Ref`` or ``Fn::GetAtt`` names."""
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        arg = value["Fn::GetAtt"]
        return str(arg.split(".")[0] if isinstance(arg, str) else arg[0])
    return None


def _alarms(sam: Json) -> dict[str, Json]:
    return {name: alarm["Properties"] for name, alarm in _of_type(sam, "AWS::CloudWatch::Alarm").items()}


def _alarms_on(sam: Json, namespace: str, metric: str) -> list[Json]:
    return [a for a in _alarms(sam).values() if a["Namespace"] == namespace and a["MetricName"] == metric]


def _dead_letter_queues(sam: Json) -> set[str]:
    """Every queue something sends what failed to: redrive targets, schedule DLQs, on-failure destinations."""
    queues: set[str] = set()
    for queue in _of_type(sam, "AWS::SQS::Queue").values():
        redrive = queue["Properties"].get("RedrivePolicy")
        if redrive:
            queues.add(str(_ref_target(redrive["deadLetterTargetArn"])))
    for fn in _functions(sam).values():
        for event in (fn["Properties"].get("Events") or {}).values():
            dead_letter = event.get("Properties", {}).get("DeadLetterConfig")
            if dead_letter:
                queues.add(str(_ref_target(dead_letter["Arn"])))
        on_failure = fn["Properties"].get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure")
        if on_failure:
            queues.add(str(_ref_target(on_failure["Destination"])))
    return queues


# ---------------------------------------------------------------------------- logs
def test_every_function_logs_to_a_log_group_of_its_own_with_the_retention_parameter(sam: Json) -> None:
    groups = _of_type(sam, "AWS::Logs::LogGroup")
    assert sam["Parameters"]["LogRetentionDays"]["Default"] == 90
    used: list[str] = []
    for name, fn in _functions(sam).items():
        group = _ref_target(fn["Properties"].get("LoggingConfig", {}).get("LogGroup"))
        assert group in groups, (name, group)
        props = groups[group]["Properties"]
        assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        assert props["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}-{name}"}, name
        used.append(group)
    assert len(used) == len(set(used))  # one group per function
    for name, definition in groups.items():
        assert definition["Properties"].get("RetentionInDays") == {"Ref": "LogRetentionDays"}, name


def _dependencies(template: Json) -> dict[str, set[str]]:
    resources = template["Resources"]
    graph: dict[str, set[str]] = {}
    for name, resource in resources.items():
        needs = {str(d) for d in _as_list(resource.get("DependsOn") or [])}
        for node in _walk({k: v for k, v in resource.items() if k in ("Properties", "Metadata")}):
            if not (isinstance(node, dict) and len(node) == 1):
                continue
            ((fn, arg),) = node.items()
            if fn in ("Ref", "Fn::GetAtt"):
                needs.add(str(_ref_target(node)))
            elif fn == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                needs.update(v.split(".")[0] for v in re.findall(r"\$\{([^!}][^}]*)\}", text))
        graph[name] = needs & set(resources)
    return graph


def test_the_transformed_template_has_no_dependency_cycle(cfn: Json) -> None:
    graph = _dependencies(cfn)
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        if name in path:
            yield (*path, name)
            return
        if name in done:
            return
        for needed in sorted(graph[name]):
            yield from visit(needed, (*path, name))
        done.add(name)

    cycles = [cycle for name in sorted(graph) for cycle in visit(name, ())]
    assert cycles == []


def test_the_api_writes_access_logs_to_a_retained_group_and_keeps_its_throttling(sam: Json, cfn: Json) -> None:
    api = sam["Resources"]["UsageApi"]["Properties"]
    setting = api["AccessLogSetting"]
    group = _ref_target(setting["DestinationArn"])
    assert sam["Resources"][group]["Type"] == "AWS::Logs::LogGroup"
    assert sam["Resources"][group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    fields = json.loads(setting["Format"])
    assert fields["requestId"] == "$context.requestId"  # the functions' correlation_id
    assert {"status", "httpMethod", "resourcePath", "principalId", "responseLatency"} <= set(fields)
    stages = _of_type(cfn, "AWS::ApiGateway::Stage")
    assert stages
    for name, stage in stages.items():
        assert stage["Properties"]["AccessLogSetting"]["DestinationArn"] == setting["DestinationArn"], name
        throttling = [s for s in stage["Properties"]["MethodSettings"] if s.get("ThrottlingRateLimit")]
        assert throttling, name
        assert all(s["ThrottlingBurstLimit"] >= s["ThrottlingRateLimit"] > 0 for s in throttling), name


def test_the_api_gateway_account_log_role_is_optional_and_ordered_before_the_api(sam: Json) -> None:
    resources = sam["Resources"]
    assert sam["Parameters"]["ConfigureApiGatewayLogging"]["Default"] == "true"
    assert resources["ApiGatewayAccount"]["Condition"] == "SetApiGatewayAccount"
    assert resources["ApiGatewayCloudWatchRole"]["Condition"] == "SetApiGatewayAccount"
    assert resources["UsageApi"]["DependsOn"] == "ApiGatewayLoggingReady"
    ready = resources["ApiGatewayLoggingReady"]["Metadata"]["AccountSetting"]["Fn::If"]
    assert ready[:2] == ["SetApiGatewayAccount", {"Ref": "ApiGatewayAccount"}]


# ---------------------------------------------------------------------------- retries and dead letters
def test_exactly_the_scheduled_functions_have_schedules_and_each_retries_into_dead_letter_queues(sam: Json) -> None:
    queues = _of_type(sam, "AWS::SQS::Queue")
    with_schedules = set()
    for name, fn in _functions(sam).items():
        schedules = [e for e in (fn["Properties"].get("Events") or {}).values() if e["Type"] == "Schedule"]
        if not schedules:
            continue
        with_schedules.add(name)
        for event in schedules:
            props = event["Properties"]
            retry = props["RetryPolicy"]
            assert retry["MaximumRetryAttempts"] >= 1, name
            assert 60 <= retry["MaximumEventAgeInSeconds"] <= 86400, name
            assert _ref_target(props["DeadLetterConfig"]["Arn"]) in queues, name
        invoke = fn["Properties"]["EventInvokeConfig"]
        assert 1 <= invoke["MaximumRetryAttempts"] <= 2, name
        on_failure = invoke["DestinationConfig"]["OnFailure"]
        assert on_failure["Type"] == "SQS", name
        assert _ref_target(on_failure["Destination"]) in queues, name
    assert with_schedules == SCHEDULED


def test_the_schedule_dead_letter_queue_takes_messages_from_the_stacks_rules_only(sam: Json, cfn: Json) -> None:
    rules = set(_of_type(cfn, "AWS::Events::Rule"))
    policies = [p["Properties"] for p in _of_type(sam, "AWS::SQS::QueuePolicy").values()]
    statements = [
        s
        for p in policies
        if {"Ref": "ScheduleDeadLetterQueue"} in p["Queues"]
        for s in _as_list(p["PolicyDocument"]["Statement"])
    ]
    assert statements
    for statement in statements:
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert statement["Action"] == "sqs:SendMessage"
        sources = {_ref_target(a) for a in statement["Condition"]["ArnEquals"]["aws:SourceArn"]}
        assert sources == rules


def test_the_export_jobs_queue_redrives_into_its_dead_letter_queue(sam: Json) -> None:
    queue = sam["Resources"]["ExportsQueue"]["Properties"]
    assert _ref_target(queue["RedrivePolicy"]["deadLetterTargetArn"]) == "ExportsDeadLetterQueue"
    exports = sam["Resources"]["ExportsFunction"]["Properties"]
    attempts = exports["Environment"]["Variables"]["EXPORT_MAX_ATTEMPTS"]
    assert str(attempts) == str(queue["RedrivePolicy"]["maxReceiveCount"])
    assert queue["VisibilityTimeout"] > exports["Timeout"]


def test_every_queue_is_encrypted_and_every_dead_letter_queue_keeps_messages_14_days(sam: Json) -> None:
    queues = _of_type(sam, "AWS::SQS::Queue")
    for name, queue in queues.items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or props.get("KmsMasterKeyId"), name
    dead_letters = _dead_letter_queues(sam)
    assert dead_letters == {"ExportsDeadLetterQueue", "ScheduleDeadLetterQueue", "ScheduledFailuresQueue"}
    for name in dead_letters:
        assert queues[name]["Properties"]["MessageRetentionPeriod"] == 1209600, name


# ---------------------------------------------------------------------------- parameters and links
def test_the_per_organization_rate_limit_is_a_parameter_the_functions_get(sam: Json) -> None:
    parameter = sam["Parameters"]["OrgRequestsPerSecond"]
    assert (parameter["Type"], parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (
        "Number",
        200,
        1,
        900,
    )
    assert "429" in parameter["Description"]
    assert "Retry-After" in parameter["Description"]
    variables = sam["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["ORG_REQUESTS_PER_SECOND"] == {"Ref": "OrgRequestsPerSecond"}


def test_presigned_links_stay_short(sam: Json) -> None:
    parameter = sam["Parameters"]["ExportLinkSeconds"]
    assert parameter["Default"] == 900
    assert parameter["MaxValue"] <= 3600
    assert sam["Globals"]["Function"]["Environment"]["Variables"]["EXPORT_LINK_SECONDS"] == {"Ref": "ExportLinkSeconds"}


# ---------------------------------------------------------------------------- alarms
def test_every_alarm_notifies_the_alarm_topic_and_treats_missing_data_as_no_fault(sam: Json) -> None:
    alarms = _alarms(sam)
    assert alarms
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [ALARM_TOPIC], name
        assert alarm["OKActions"] == [ALARM_TOPIC], name
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert "docs/operations.md" in alarm["AlarmDescription"], name


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use_and_mails_only_if_asked(sam: Json) -> None:
    resources = sam["Resources"]
    key = _ref_target(resources["OpsAlarmTopic"]["Properties"]["KmsMasterKeyId"])
    assert resources[key]["Type"] == "AWS::KMS::Key"  # not aws/sns: CloudWatch cannot use that key
    statements = resources[key]["Properties"]["KeyPolicy"]["Statement"]
    cloudwatch = [s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert cloudwatch
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= set(_as_list(cloudwatch[0]["Action"]))
    assert sam["Parameters"]["AlarmEmail"]["Default"] == ""
    subscriptions = _of_type(sam, "AWS::SNS::Subscription")
    assert [s["Condition"] for s in subscriptions.values()] == ["HasAlarmEmail"]
    assert sam["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}


def test_every_kms_key_rotates_and_its_policy_names_actions_and_principals(sam: Json) -> None:
    keys = _of_type(sam, "AWS::KMS::Key")
    assert keys
    for name, key in keys.items():
        assert key["Properties"]["EnableKeyRotation"] is True, name
        for statement in _as_list(key["Properties"]["KeyPolicy"]["Statement"]):
            # Resource "*" is the only value a key policy accepts (it means the key itself).
            assert all("*" not in action for action in _as_list(statement["Action"])), (name, statement)
            assert statement["Principal"] not in ("*", {"AWS": "*"}), (name, statement)


def test_the_api_5xx_alarm_watches_the_stacks_api_and_stage(sam: Json) -> None:
    (alarm,) = _alarms_on(sam, "AWS/ApiGateway", "5XXError")
    dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert dimensions == {"ApiName": sam["Resources"]["UsageApi"]["Properties"]["Name"], "Stage": {"Ref": "StageName"}}
    assert alarm["Statistic"] == "Sum"


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_an_errors_and_a_throttles_alarm(sam: Json, metric: str) -> None:
    watched: list[str] = []
    for alarm in _alarms_on(sam, "AWS/Lambda", metric):
        (dimension,) = alarm["Dimensions"]
        assert dimension["Name"] == "FunctionName"
        watched.append(str(_ref_target(dimension["Value"])))
        assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
            "Sum",
            1,
            "GreaterThanOrEqualToThreshold",
        )
    assert sorted(watched) == sorted(_functions(sam))


def test_every_dead_letter_queue_has_a_depth_alarm(sam: Json) -> None:
    watched = set()
    for alarm in _alarms_on(sam, "AWS/SQS", "ApproximateNumberOfMessagesVisible"):
        (dimension,) = alarm["Dimensions"]
        assert dimension["Name"] == "QueueName"
        assert dimension["Value"]["Fn::GetAtt"][1] == "QueueName"
        assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
            "Maximum",
            0,
            "GreaterThanThreshold",
        )
        watched.add(_ref_target(dimension["Value"]))
    assert watched == _dead_letter_queues(sam)


def test_rollup_lag_and_failed_exports_alarm_on_the_services_metrics(sam: Json) -> None:
    variables = sam["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == METRICS_NAMESPACE
    assert variables["POWERTOOLS_SERVICE_NAME"] == SERVICE_DIMENSION[0]["Value"]
    (lag,) = _alarms_on(sam, METRICS_NAMESPACE, "RollupLagSeconds")
    assert lag["Dimensions"] == SERVICE_DIMENSION
    assert (lag["Statistic"], lag["Threshold"], lag["ComparisonOperator"]) == ("Maximum", 7200, "GreaterThanThreshold")
    (failed,) = _alarms_on(sam, METRICS_NAMESPACE, "ExportsFailed")
    assert failed["Dimensions"] == SERVICE_DIMENSION
    assert (failed["Statistic"], failed["Period"], failed["Threshold"], failed["ComparisonOperator"]) == (
        "Sum",
        3600,
        0,
        "GreaterThanThreshold",
    )


# ---------------------------------------------------------------------------- checkov and the docs
def _checkov_skips(sam: Json) -> Iterator[tuple[str, Json]]:
    for name, resource in sam["Resources"].items():
        for skip in (resource.get("Metadata") or {}).get("checkov", {}).get("skip", []):
            yield name, skip


def test_every_checkov_skip_says_why(sam: Json) -> None:
    skips = list(_checkov_skips(sam))
    assert skips
    for name, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (name, skip)
        assert len(skip.get("comment", "").split()) >= 8, (name, skip)


def test_checkov_finds_nothing() -> None:
    if not CHECKOV.exists():
        # `make test` (and so CI) installs it first: there, a missing checkov is a failure.
        assert not os.environ.get("CI"), f"{CHECKOV.relative_to(ROOT)} is missing: `make test` installs it"
        pytest.skip(f"{CHECKOV.relative_to(ROOT)} is not installed: `make checkov` (and `make test`) install it")
    command = [str(CHECKOV), "-f", str(TEMPLATE), "--framework", "cloudformation", "--skip-download", "--compact"]
    proc = subprocess.run([*command, "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = re.search(r"Passed checks: (\d+), Failed checks: (\d+), Skipped checks: (\d+)", proc.stdout)
    assert counts, proc.stdout
    assert int(counts.group(1)) > 0
    assert int(counts.group(2)) == 0, proc.stdout


def test_the_operations_doc_covers_every_parameter_and_alarm(sam: Json) -> None:
    doc = OPERATIONS_DOC.read_text()
    missing = [name for name in sam["Parameters"] if f"`{name}`" not in doc]
    assert missing == []
    headings = {line.lstrip("#").strip().lower() for line in doc.splitlines() if line.startswith("#")}
    for name, alarm in _alarms(sam).items():
        section = alarm["AlarmDescription"].split("docs/operations.md, ", 1)[1].rstrip(".")
        assert any(section.lower() in heading for heading in headings), (name, section)
    assert Path(ROOT / "docs" / "deploy.md").is_file()
    assert "deploy.md" in doc
