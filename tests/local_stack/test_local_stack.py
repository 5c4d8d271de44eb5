"""The local stack (SPEC §9) through HTTP and the real stand-ins: the gateway behaves as API Gateway
does, the stand-ins hold exactly template.yaml's resources, data survives a restart, tokens from
``usage-local token`` are accepted, schedules fire at EventBridge's times, and the CLI's errors."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import Api
from tests.stack import LocalStack
from usage_local.gateway import evaluate_policy, method_arn
from usage_local.resources import create_resources
from usage_local.scheduler import ScheduleError, next_fire_time, scheduled_event
from usage_local.template import Template

ROOT = Path(__file__).resolve().parents[2]
Json = dict[str, Any]


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.load(ROOT / "template.yaml")


def _gateway_response(template: Template, kind: str, status: int, body: Json) -> tuple[int, Json]:
    """What the template's API answers for a gateway response ``kind`` (API Gateway's default otherwise)."""
    for name in template.resources("AWS::Serverless::Api"):
        responses = template.properties(name).get("GatewayResponses") or {}
        if kind in responses:
            configured = responses[kind]
            return int(configured.get("StatusCode", status)), json.loads(
                configured["ResponseTemplates"]["application/json"]
            )
    return status, body


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "usage_local", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


# ---------------------------------------------------------------------------- the gateway
def test_health_answers_ok_without_credentials(api: Api) -> None:
    answer = api.get("/v1/health")
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
    assert answer.headers["x-amzn-RequestId"]


def test_unknown_routes_get_the_missing_authentication_token_response(api: Api, template: Template) -> None:
    expected = _gateway_response(
        template, "MISSING_AUTHENTICATION_TOKEN", 403, {"message": "Missing Authentication Token"}
    )
    for method, path in [("GET", "/v1/nothing-here"), ("PATCH", "/v1/health"), ("POST", "/")]:
        answer = api.request(method, path)
        assert (answer.status_code, answer.json()) == expected, (method, path)


def test_the_dashboard_is_served_at_the_root_and_nothing_outside_it(api: Api) -> None:
    index = api.get("/")
    assert index.status_code == 200
    assert index.headers["Content-Type"].startswith("text/html")
    assert "js/app.js" in index.text
    assert api.get("/js/app.js").headers["Content-Type"].startswith("text/javascript")
    assert api.get("/vendor/echarts.min.js").status_code == 200
    for path in ("/nothing.js", "/../template.yaml", "/%2e%2e/template.yaml", "/js/../../pyproject.toml"):
        assert api.get(path).status_code == 404, path


def test_a_route_needing_credentials_without_them_is_401_with_the_spec_error_body(api: Api) -> None:
    answer = api.get("/v1/orgs/acme/api-keys")
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert error["code"] == "unauthorized"
    assert set(error) == {"code", "message", "details"}


def test_a_token_not_signed_by_the_stack_is_refused(api: Api) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {"sub": "x", "role": "vendor_admin", "iss": "usage-local", "aud": "usage-local", "exp": 4102444800}
    forged = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "forged"})
    answer = api.get("/v1/orgs/acme/api-keys", headers={"Authorization": f"Bearer {forged}"})
    assert answer.status_code == 401


def test_a_token_from_usage_local_token_is_accepted(stack: LocalStack, api: Api) -> None:
    printed = _cli("token", "--role", "vendor_admin", "--state-dir", str(stack.state_dir))
    assert printed.returncode == 0, printed.stderr
    answer = api.get("/v1/orgs/acme/api-keys", headers={"Authorization": f"Bearer {printed.stdout.strip()}"})
    assert answer.status_code == 200, answer.text
    assert "items" in answer.json()


def test_a_body_over_10_mb_is_refused_with_413(api: Api, template: Template) -> None:
    expected = _gateway_response(template, "REQUEST_TOO_LARGE", 413, {"message": "Request Too Long"})
    answer = api.post("/v1/events", data=b"x" * (10 * 1024 * 1024 + 1), headers={"x-api-key": "whatever"})
    assert (answer.status_code, answer.json()) == expected


def test_concurrent_requests_are_all_served(api: Api) -> None:
    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(lambda _: api.get("/v1/health").status_code, range(48)))
    assert statuses == [200] * 48


def test_handlers_get_the_template_environment_pointing_at_the_stand_ins(stack: LocalStack, template: Template) -> None:
    globals_env = template.body["Globals"]["Function"]["Environment"]["Variables"]
    assert set(globals_env) <= set(stack.env)
    for variable in ("DYNAMODB", "S3", "SNS", "EVENTBRIDGE", "SQS"):
        assert stack.env[f"AWS_ENDPOINT_URL_{variable}"].startswith("http://127.0.0.1:")
    assert stack.env["JWT_ISSUER"] == stack.env["JWT_AUDIENCE"] == "usage-local"
    for function in template.functions():
        assert set(template.function_environment(function)) <= set(stack.function_env(function))


# ---------------------------------------------------------------------------- the stand-ins' resources
def _key_schema(keys: list[Json]) -> list[tuple[str, str]]:
    return [(k["AttributeName"], k["KeyType"]) for k in keys]


def test_every_table_of_the_template_exists_with_its_keys_indexes_and_ttl(
    stack: LocalStack, template: Template
) -> None:
    dynamodb = stack.client("dynamodb")
    tables = template.resources("AWS::DynamoDB::Table")
    assert tables
    for logical_id in tables:
        props = template.resolve(template.properties(logical_id))
        name = template.physical_name(logical_id)
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert _key_schema(table["KeySchema"]) == _key_schema(props["KeySchema"]), name
        wanted_indexes = {i["IndexName"]: _key_schema(i["KeySchema"]) for i in props.get("GlobalSecondaryIndexes", [])}
        found_indexes = {i["IndexName"]: _key_schema(i["KeySchema"]) for i in table.get("GlobalSecondaryIndexes", [])}
        assert found_indexes == wanted_indexes, name
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        spec = props.get("TimeToLiveSpecification")
        if spec and spec.get("Enabled"):
            assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", spec["AttributeName"]), name
        else:
            assert ttl["TimeToLiveStatus"] == "DISABLED", name
    # Exactly the template's tables (the scratch tables of the test below aside).
    listed = {t for t in dynamodb.list_tables()["TableNames"] if not t.startswith(SCRATCH)}
    assert listed == {template.physical_name(t) for t in tables}


def test_every_bucket_topic_and_bus_of_the_template_exists(stack: LocalStack, template: Template) -> None:
    s3, sns, events = stack.client("s3"), stack.client("sns"), stack.client("events")
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert buckets == {template.physical_name(b) for b in template.resources("AWS::S3::Bucket")}
    for logical_id in template.resources("AWS::S3::Bucket"):
        props = template.properties(logical_id)
        if "PublicAccessBlockConfiguration" in props:
            block = s3.get_public_access_block(Bucket=template.physical_name(logical_id))
            assert block["PublicAccessBlockConfiguration"] == props["PublicAccessBlockConfiguration"]
    topics = {t["TopicArn"] for t in sns.list_topics()["Topics"]}
    assert topics == {template.physical_name(t) for t in template.resources("AWS::SNS::Topic")}
    buses = {b["Name"] for b in events.list_event_buses()["EventBuses"]} - {"default"}
    assert buses == {template.physical_name(b) for b in template.resources("AWS::Events::EventBus")}


def test_tables_keep_their_data_across_a_restart_and_fresh_empties_them(
    stack_launcher: Any, tmp_path: Path, template: Template
) -> None:
    state = tmp_path / "state"
    table = template.physical_name(next(iter(template.resources("AWS::DynamoDB::Table"))))
    first = stack_launcher(state, fresh=True)
    answer = Api(first).post("/v1/orgs/restart-org/api-keys", role="vendor_admin")
    assert answer.status_code == 201, answer.text
    key_id = answer.json()["key_id"]
    first.stop()

    second = stack_launcher(state, fresh=False)
    listed = Api(second).get("/v1/orgs/restart-org/api-keys", role="vendor_admin")
    assert listed.status_code == 200, listed.text
    assert key_id in {item["key_id"] for item in listed.json()["items"]}
    second.stop()

    third = stack_launcher(state, fresh=True)
    assert third.client("dynamodb").scan(TableName=table, Select="COUNT")["Count"] == 0
    third.stop()


SCRATCH = "ScratchTable"
SCRATCH_TEMPLATE = """
Resources:
  {name}:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{attributes}]
      KeySchema: [{{AttributeName: pk, KeyType: HASH}}]
      {extra}
"""
PK, DAY = "{AttributeName: pk, AttributeType: S}", "{AttributeName: day, AttributeType: S}"
SCRATCH_GSI = """GlobalSecondaryIndexes:
        - IndexName: by_day
          KeySchema: [{AttributeName: day, KeyType: HASH}]
          Projection: {ProjectionType: KEYS_ONLY}
      TimeToLiveSpecification: {AttributeName: gone_at, Enabled: true}"""


def test_tables_are_kept_when_unchanged_and_recreated_when_their_indexes_change(
    stack: LocalStack, tmp_path: Path
) -> None:
    name = f"{SCRATCH}{uuid.uuid4().hex[:8]}"
    path = tmp_path / "template.yaml"
    dynamodb = stack.client("dynamodb")
    endpoints = stack.info["endpoints"]
    try:
        path.write_text(SCRATCH_TEMPLATE.format(name=name, attributes=PK, extra=""))
        create_resources(Template.load(path), endpoints["dynamodb"], endpoints["aws"])
        dynamodb.put_item(TableName=name, Item={"pk": {"S": "a"}, "day": {"S": "d"}})
        create_resources(Template.load(path), endpoints["dynamodb"], endpoints["aws"])
        assert dynamodb.scan(TableName=name, Select="COUNT")["Count"] == 1

        path.write_text(SCRATCH_TEMPLATE.format(name=name, attributes=f"{PK}, {DAY}", extra=SCRATCH_GSI))
        create_resources(Template.load(path), endpoints["dynamodb"], endpoints["aws"])
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by_day"]
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "gone_at")
    finally:
        with contextlib.suppress(Exception):
            dynamodb.delete_table(TableName=name)


def test_template_values_resolve_to_local_names(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(
        """
Parameters:
  Stage: {Type: String, Default: dev}
  PoolId: {Type: String}
Resources:
  Files: {Type: AWS::S3::Bucket}
  Named: {Type: AWS::S3::Bucket, Properties: {BucketName: !Sub "named-${Stage}"}}
  Alerts: {Type: AWS::SNS::Topic}
  Bus: {Type: AWS::Events::EventBus, Properties: {Name: !Sub "${AWS::StackName}-bus"}}
  Rows: {Type: AWS::DynamoDB::Table, Properties: {KeySchema: [], AttributeDefinitions: []}}
"""
    )
    template = Template.load(path)
    resolve = template.resolve
    assert resolve({"Ref": "Files"}) == "license-usage-local-files"
    assert resolve({"Ref": "Named"}) == "named-dev"
    assert resolve({"Ref": "Alerts"}) == "arn:aws:sns:us-east-1:123456789012:license-usage-local-Alerts"
    assert resolve({"Ref": "Bus"}) == "license-usage-local-bus"
    assert resolve({"Ref": "Rows"}) == "Rows"
    assert resolve({"Fn::GetAtt": ["Rows", "Arn"]}) == "arn:aws:dynamodb:us-east-1:123456789012:table/Rows"
    assert resolve({"Fn::Sub": "${Files.Arn}/*"}) == "arn:aws:s3:::license-usage-local-files/*"
    assert resolve({"Fn::Sub": "${AWS::Region}:${AWS::AccountId}:${!Literal}"}) == "us-east-1:123456789012:${Literal}"
    assert resolve({"Ref": "PoolId"}) == "local"  # no default: a local stand-in value


# ---------------------------------------------------------------------------- the CLI
def test_invoke_of_a_function_the_template_lacks_fails_with_a_message(stack: LocalStack) -> None:
    result = _cli("invoke", "NoSuchFunction", "--time", "2026-03-01T00:15:00Z", "--state-dir", str(stack.state_dir))
    assert result.returncode != 0
    assert "NoSuchFunction" in result.stderr


def test_invoke_runs_the_real_handler_once_with_the_stacks_environment(stack: LocalStack, template: Template) -> None:
    # The API's authorizer is a function every version of the template has; a scheduled event
    # carries no credentials, so the real handler refuses it the way API Gateway expects (Unauthorized).
    (api,) = template.resources("AWS::Serverless::Api")
    auth = template.properties(api)["Auth"]
    authorizer = auth["Authorizers"][auth["DefaultAuthorizer"]]["FunctionArn"]["Fn::GetAtt"][0]
    result = _cli("invoke", authorizer, "--time", "2026-03-01T00:15:00Z", "--state-dir", str(stack.state_dir))
    assert result.returncode == 1, result.stdout + result.stderr
    (report,) = [line for line in result.stderr.splitlines() if line.startswith(f"usage-local invoke: {authorizer}")]
    assert json.loads(report.split(" failed: ", 1)[1])["errorMessage"] == "Unauthorized"


def test_invoke_without_a_running_stack_fails_with_a_message(tmp_path: Path, template: Template) -> None:
    function = next(iter(template.functions()))
    result = _cli("invoke", function, "--time", "2026-03-01T00:15:00Z", "--state-dir", str(tmp_path))
    assert result.returncode != 0
    assert "No local stack is running" in result.stderr


# ---------------------------------------------------------------------------- pure parts
@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(15 0 * * ? *)", "2026-03-01T00:00:00Z", "2026-03-01T00:15:00Z"),
        ("cron(15 0 * * ? *)", "2026-03-01T00:15:00Z", "2026-03-02T00:15:00Z"),
        ("cron(15 0 * * ? *)", "2026-12-31T23:59:00Z", "2027-01-01T00:15:00Z"),
        ("cron(30 0 1 * ? *)", "2026-01-15T12:00:00Z", "2026-02-01T00:30:00Z"),
        ("cron(30 0 1 * ? *)", "2026-12-01T00:30:00Z", "2027-01-01T00:30:00Z"),
        ("cron(0 9 ? * MON-FRI *)", "2026-03-06T10:00:00Z", "2026-03-09T09:00:00Z"),  # Friday → Monday
        ("cron(0/15 * * * ? *)", "2026-03-01T10:07:30Z", "2026-03-01T10:15:00Z"),
        ("cron(0 12 L * ? *)", "2026-02-10T00:00:00Z", "2026-02-28T12:00:00Z"),
        ("cron(0 12 L * ? *)", "2028-02-10T00:00:00Z", "2028-02-29T12:00:00Z"),
        ("cron(0 8 ? * 2#1 *)", "2026-03-01T00:00:00Z", "2026-03-02T08:00:00Z"),  # first Monday
        ("cron(0 0 1 1 ? 2030)", "2026-03-01T00:00:00Z", "2030-01-01T00:00:00Z"),
        ("cron(0 0 1 1 ? 2025)", "2026-03-01T00:00:00Z", None),
        ("rate(1 hour)", "2026-03-01T00:00:00Z", "2026-03-01T01:00:00Z"),
        ("rate(5 minutes)", "2026-03-01T00:00:00Z", "2026-03-01T00:05:00Z"),
        ("rate(1 day)", "2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z"),
    ],
)
def test_next_fire_time_follows_eventbridge_schedule_expressions(
    expression: str, after: str, expected: str | None
) -> None:
    fire = next_fire_time(expression, datetime.fromisoformat(after))
    assert (fire.strftime("%Y-%m-%dT%H:%M:%SZ") if fire else None) == expected


def test_a_rate_counts_from_when_the_rule_was_created() -> None:
    anchor = datetime(2026, 3, 1, 0, 20, tzinfo=UTC)
    fire = next_fire_time("rate(1 hour)", datetime(2026, 3, 1, 2, 0, tzinfo=UTC), anchor=anchor)
    assert fire == datetime(2026, 3, 1, 2, 20, tzinfo=UTC)


def test_a_cron_in_a_timezone_fires_at_that_zones_wall_time() -> None:
    fire = next_fire_time("cron(0 9 * * ? *)", datetime(2026, 7, 1, tzinfo=UTC), timezone="Europe/Berlin")
    assert fire == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "expression",
    ["cron(15 0 * * * *)", "cron(15 0 * *)", "cron(61 0 * * ? *)", "rate(0 hours)", "rate(2 hour)", "every day"],
)
def test_invalid_schedule_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ScheduleError):
        next_fire_time(expression, datetime(2026, 3, 1, tzinfo=UTC))


def test_the_scheduled_event_carries_the_scheduled_instant() -> None:
    event = scheduled_event("arn:aws:events:us-east-1:123456789012:rule/r", datetime(2026, 3, 1, 0, 15, tzinfo=UTC))
    assert event["time"] == "2026-03-01T00:15:00Z"
    assert (event["detail-type"], event["source"], event["detail"]) == ("Scheduled Event", "aws.events", {})
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/r"]


ARN = method_arn("abc123", "prod", "GET", "/v1/orgs/acme/api-keys")


def _statement(effect: str, resource: str, action: str = "execute-api:Invoke") -> Json:
    return {"Effect": effect, "Action": action, "Resource": resource}


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        ([_statement("Allow", ARN)], "allow"),
        ([_statement("Allow", "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*")], "allow"),
        ([_statement("Allow", "arn:aws:execute-api:us-east-1:123456789012:abc123/*/GET/v1/orgs/*")], "allow"),
        ([_statement("Allow", "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/POST/*")], "deny"),
        ([_statement("Allow", "*", "execute-api:*")], "allow"),
        ([_statement("Allow", ARN, "s3:GetObject")], "deny"),
        ([_statement("Allow", "*"), _statement("Deny", ARN)], "deny"),
        ([_statement("Deny", ARN)], "deny"),
        ([], "deny"),
    ],
)
def test_authorizer_policies_are_evaluated_as_iam_does(statements: list[Json], expected: str) -> None:
    assert evaluate_policy({"Version": "2012-10-17", "Statement": statements}, ARN) == expected
