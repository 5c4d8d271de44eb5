"""Offline checks of the SAM template: lint, transform, routes, security properties, references."""

from __future__ import annotations

import ast
import copy
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode
from samtranslator.translator.transform import transform

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
PARAMETERS = {"CognitoUserPoolId": "us-east-1_Example", "CognitoAppClientId": "exampleclient"}
PSEUDO = {
    "AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
    "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix",
}  # fmt: skip
# SPEC §5, method and path (query strings dropped): every route the template serves must be one of these.
SPEC_ROUTES = {
    ("GET", "/v1/health"), ("POST", "/v1/events"),
    ("PUT", "/v1/orgs/{org_id}/seats/{user_id}"), ("DELETE", "/v1/orgs/{org_id}/seats/{user_id}"),
    ("POST", "/v1/orgs/{org_id}/api-keys"), ("GET", "/v1/orgs/{org_id}/api-keys"),
    ("DELETE", "/v1/orgs/{org_id}/api-keys/{key_id}"),
    ("POST", "/v1/orgs/{org_id}/plans"), ("GET", "/v1/orgs/{org_id}/plans"),
    ("POST", "/v1/orgs/{org_id}/plans/{plan_id}/renewal"),
    ("GET", "/v1/orgs/{org_id}/plans/{plan_id}/usage"), ("GET", "/v1/orgs/{org_id}/plans/{plan_id}/users"),
    ("GET", "/v1/orgs/{org_id}/plans/{plan_id}/activity"),
    ("GET", "/v1/orgs/{org_id}/plans/{plan_id}/seat-history"),
    ("GET", "/v1/orgs/{org_id}/reports/license-ai-usage"),
    ("POST", "/v1/orgs/{org_id}/exports"), ("GET", "/v1/orgs/{org_id}/exports/{export_id}"),
    ("GET", "/v1/orgs/{org_id}/exports"),
    ("POST", "/v1/orgs/{org_id}/report-schedules"), ("GET", "/v1/orgs/{org_id}/report-schedules"),
    ("DELETE", "/v1/orgs/{org_id}/report-schedules/{schedule_id}"),
    ("GET", "/v1/orgs/{org_id}/notifications"),
    ("POST", "/v1/orgs/{org_id}/notification-subscriptions"),
    ("GET", "/v1/orgs/{org_id}/notification-subscriptions"),
    ("DELETE", "/v1/orgs/{org_id}/notification-subscriptions/{subscription_id}"),
    ("GET", "/v1/orgs/{org_id}/audit"), ("GET", "/v1/overdrafts"), ("GET", "/v1/orgs"),
    ("GET", "/v1/orgs/{org_id}/insights"), ("GET", "/v1/insights"),
}  # fmt: skip
MUST_HAVE_ROUTES = {
    ("GET", "/v1/health"), ("POST", "/v1/events"), ("POST", "/v1/orgs/{org_id}/api-keys"),
    ("GET", "/v1/orgs/{org_id}/api-keys"), ("DELETE", "/v1/orgs/{org_id}/api-keys/{key_id}"),
}  # fmt: skip
PUBLIC_ROUTES = {("GET", "/v1/health")}
# The reports have a function of their own, so the API's cold start does not import them.
REPORT_ROUTES = {
    ("GET", "/v1/orgs/{org_id}/reports/license-ai-usage"),
    ("GET", "/v1/orgs/{org_id}/plans/{plan_id}/seat-history"),
    ("GET", "/v1/orgs/{org_id}/plans/{plan_id}/activity"),
    ("GET", "/v1/orgs/{org_id}/insights"),
    ("GET", "/v1/insights"),
}
# What the reports read (and nothing else): plans, tallies, rollups and dirty marks in the licensing
# table, and the activity log's by_day partitions.
REPORTS_ACCESS = {
    ("dynamodb:GetItem", '{"Fn::GetAtt": ["LicensingTable", "Arn"]}'),
    ("dynamodb:Query", '{"Fn::GetAtt": ["LicensingTable", "Arn"]}'),
    ("dynamodb:Query", '{"Fn::Sub": "${EventsTable.Arn}/index/by_day"}'),
}
MUST_HAVE_RESOURCES = {
    "SharedLayer": "AWS::Serverless::LayerVersion", "UsageApi": "AWS::Serverless::Api",
    "AuthorizerFunction": "AWS::Serverless::Function", "IngestFunction": "AWS::Serverless::Function",
    "ApiFunction": "AWS::Serverless::Function", "ReportsFunction": "AWS::Serverless::Function",
    "EventsTable": "AWS::DynamoDB::Table",
    "LicensingTable": "AWS::DynamoDB::Table", "ExportsBucket": "AWS::S3::Bucket",
    "ExportsBucketPolicy": "AWS::S3::BucketPolicy", "NotificationsTopic": "AWS::SNS::Topic",
    "UsageEventBus": "AWS::Events::EventBus",
}  # fmt: skip
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
Json = dict[str, Any]


class _OfflinePolicyLoader:  # samtranslator's ManagedPolicyLoader would list the policies through IAM
    def load(self) -> dict[str, str]:
        names = ["AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess", "AWSLambdaVPCAccessExecutionRole"]
        return {name: f"arn:aws:iam::aws:policy/service-role/{name}" for name in names}


def _walk(node: Any) -> Iterator[Any]:
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        yield from _walk(child)


def _of_type(template: Json, type_: str) -> dict[str, Json]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _routes(template: Json) -> dict[tuple[str, str], Json]:
    routes: dict[tuple[str, str], Json] = {}
    for api in _of_type(template, "AWS::ApiGateway::RestApi").values():
        for path, item in api["Properties"]["Body"]["paths"].items():
            routes.update({(m.upper(), path): op for m, op in item.items() if m in HTTP_METHODS})
    return routes


def _security_schemes(template: Json) -> Json:
    schemes: Json = {}
    for api in _of_type(template, "AWS::ApiGateway::RestApi").values():
        body = api["Properties"]["Body"]
        components = body.get("components", {})
        schemes.update(body.get("securityDefinitions") or components.get("securitySchemes", {}))
    return schemes


@pytest.fixture(scope="module")
def sam() -> Json:
    template, matches = decode(str(TEMPLATE))
    assert not matches, matches
    plain: Json = json.loads(json.dumps(template))
    return plain


@pytest.fixture(scope="module")
def cfn(sam: Json) -> Json:
    template = copy.deepcopy(sam)
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://example-bucket/{props[key].strip('/')}.zip"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        transformed: Json = transform(template, dict(PARAMETERS), _OfflinePolicyLoader())
    return transformed


def test_cfn_lint_reports_nothing() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    proc = subprocess.run(
        [str(cfn_lint), str(TEMPLATE)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")


def test_sam_transform_yields_plain_cloudformation_with_the_must_have_resources(sam: Json, cfn: Json) -> None:
    assert {k: sam["Resources"].get(k, {}).get("Type") for k in MUST_HAVE_RESOURCES} == MUST_HAVE_RESOURCES
    assert not [k for k, v in cfn["Resources"].items() if v["Type"].startswith("AWS::Serverless::")]
    assert set(_of_type(sam, "AWS::Serverless::Function")) <= set(_of_type(cfn, "AWS::Lambda::Function"))


def test_api_routes_include_the_required_ones_and_are_all_in_the_spec(cfn: Json) -> None:
    routes = set(_routes(cfn))
    assert routes >= MUST_HAVE_ROUTES, sorted(MUST_HAVE_ROUTES - routes)
    assert routes <= SPEC_ROUTES, sorted(routes - SPEC_ROUTES)


def _api_events(sam: Json) -> dict[tuple[str, str], str]:
    """(method, path) of every ``Type: Api`` event → the function it belongs to."""
    return {
        (str(event["Properties"]["Method"]).upper(), event["Properties"]["Path"]): name
        for name, fn in _of_type(sam, "AWS::Serverless::Function").items()
        for event in (fn["Properties"].get("Events") or {}).values()
        if event["Type"] == "Api"
    }


def test_the_reports_routes_and_only_they_go_to_the_reports_function(sam: Json, cfn: Json) -> None:
    events = _api_events(sam)
    assert {route for route, function in events.items() if function == "ReportsFunction"} == REPORT_ROUTES
    assert set(_routes(cfn)) >= REPORT_ROUTES
    assert events[("POST", "/v1/events")] == "IngestFunction"
    others = {function for route, function in events.items() if route not in REPORT_ROUTES | {("POST", "/v1/events")}}
    assert others == {"ApiFunction", "DeliveryFunction"}
    delivery = {route for route, function in events.items() if function == "DeliveryFunction"}
    assert {path.split("/")[4] for _, path in delivery} == {
        "exports",
        "report-schedules",
        "notifications",
        "notification-subscriptions",
    }


def test_the_reports_function_may_only_read_what_the_reports_read(sam: Json) -> None:
    reports = sam["Resources"]["ReportsFunction"]["Properties"]
    statements = [s for policy in _as_list(reports["Policies"]) for s in _as_list(policy["Statement"])]
    assert all(s["Effect"] == "Allow" and set(s) == {"Effect", "Action", "Resource"} for s in statements)
    granted = {
        (action, json.dumps(resource))
        for s in statements
        for action in _as_list(s["Action"])
        for resource in _as_list(s["Resource"])
    }
    assert granted == REPORTS_ACCESS


def test_every_route_but_health_requires_the_request_authorizer(cfn: Json) -> None:
    schemes = _security_schemes(cfn)
    request_authorizers = {
        name
        for name, scheme in schemes.items()
        if scheme.get("x-amazon-apigateway-authorizer", {}).get("type") == "request"
    }
    assert request_authorizers
    for route, op in _routes(cfn).items():
        names = {name for requirement in op.get("security", []) for name in requirement}
        if route in PUBLIC_ROUTES:
            assert not names & set(schemes), (route, names)
        else:
            assert names, route
            assert names <= request_authorizers, (route, names)


def test_authorizers_cache_nothing_and_need_no_identity_source(cfn: Json) -> None:
    authorizers = [s["x-amazon-apigateway-authorizer"] for s in _security_schemes(cfn).values()]
    assert authorizers
    for authorizer in authorizers:
        assert authorizer.get("authorizerResultTtlInSeconds") == 0, authorizer
        assert "identitySource" not in authorizer, authorizer


def test_gateway_error_responses_use_the_spec_error_shape(cfn: Json) -> None:
    for api in _of_type(cfn, "AWS::ApiGateway::RestApi").values():
        responses = api["Properties"]["Body"].get("x-amazon-apigateway-gateway-responses", {})
        assert responses.get("UNAUTHORIZED", {}).get("statusCode") == "401"
        assert responses.get("ACCESS_DENIED", {}).get("statusCode") == "403"
        for kind, response in responses.items():
            body = json.loads(response["responseTemplates"]["application/json"])
            assert set(body) == {"error"}, kind
            assert set(body["error"]) == {"code", "message", "details"}, kind
            assert isinstance(body["error"]["code"], str), kind
            assert isinstance(body["error"]["message"], str), kind
            assert isinstance(body["error"]["details"], list), kind


def test_api_has_no_implicit_stage_outside_the_configured_one(cfn: Json) -> None:
    # A Deployment with StageName makes an extra stage ("Stage") without the throttling/tracing settings.
    deployments = _of_type(cfn, "AWS::ApiGateway::Deployment")
    stage_names = {k: v["Properties"].get("StageName") for k, v in deployments.items()}
    assert set(stage_names.values()) <= {None}, stage_names


def _policy_statements(sam: Json, cfn: Json) -> Iterator[tuple[str, Json]]:
    for name, fn in _of_type(sam, "AWS::Serverless::Function").items():
        for policy in _as_list(fn["Properties"].get("Policies", [])):
            if isinstance(policy, dict) and "Statement" in policy:
                yield from ((name, s) for s in _as_list(policy["Statement"]))
    for name, res in cfn["Resources"].items():
        if res["Type"] in ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            props = res["Properties"]
            docs = [p["PolicyDocument"] for p in props.get("Policies", [])] + [props.get("PolicyDocument")]
            for doc in filter(None, docs):
                yield from ((name, s) for s in _as_list(doc["Statement"]))


def test_every_allow_statement_names_specific_actions_and_resources(sam: Json, cfn: Json) -> None:
    allows = [(name, s) for name, s in _policy_statements(sam, cfn) if s.get("Effect") == "Allow"]
    assert allows
    for name, statement in allows:
        assert "NotAction" not in statement, (name, statement)
        assert "NotResource" not in statement, (name, statement)
        actions, resources = _as_list(statement.get("Action")), _as_list(statement.get("Resource"))
        assert all(isinstance(a, str) and a and "*" not in a for a in actions), (name, actions)
        assert None not in resources, (name, statement)
        assert "*" not in resources, (name, resources)


def test_every_bucket_blocks_public_access_is_encrypted_and_expires_objects(cfn: Json) -> None:
    for name, bucket in _of_type(cfn, "AWS::S3::Bucket").items():
        props = bucket["Properties"]
        block = props.get("PublicAccessBlockConfiguration", {})
        flags = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        assert all(block.get(flag) is True for flag in flags), (name, block)
        sse = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
        assert sse, name
        assert all(r["ServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in sse), name
        rules = props.get("LifecycleConfiguration", {}).get("Rules", [])
        assert any(rule.get("Status") == "Enabled" for rule in rules), name


def _denies_every_s3_request_without_tls(statement: Json) -> bool:
    resources = [json.dumps(r) for r in _as_list(statement.get("Resource"))]
    return (
        statement.get("Effect") == "Deny"
        and statement.get("Principal") in ("*", {"AWS": "*"})
        and bool({"s3:*", "*"} & set(_as_list(statement.get("Action"))))
        and str(statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")).lower() == "false"
        and any("/*" in r for r in resources)  # the objects
        and any("/*" not in r for r in resources)  # the bucket itself
    )


def test_every_bucket_policy_denies_all_s3_requests_without_tls(cfn: Json) -> None:
    policies = _of_type(cfn, "AWS::S3::BucketPolicy").values()
    for name in _of_type(cfn, "AWS::S3::Bucket"):
        docs = [p["Properties"]["PolicyDocument"] for p in policies if p["Properties"]["Bucket"] == {"Ref": name}]
        statements = [s for doc in docs for s in _as_list(doc["Statement"])]
        assert any(_denies_every_s3_request_without_tls(s) for s in statements), (name, statements)


def test_every_table_has_pitr_and_sse_and_ttl_specs_are_enabled(cfn: Json) -> None:
    tables = _of_type(cfn, "AWS::DynamoDB::Table")
    assert tables
    for name, table in tables.items():
        props = table["Properties"]
        pitr = props.get("PointInTimeRecoverySpecification", {})
        assert pitr.get("PointInTimeRecoveryEnabled") is True, name
        assert props.get("SSESpecification", {}).get("SSEEnabled") is True, name
        ttl = props.get("TimeToLiveSpecification")
        assert ttl is None or (ttl.get("Enabled") is True and ttl.get("AttributeName")), name
    assert tables["EventsTable"]["Properties"]["TimeToLiveSpecification"]["Enabled"] is True


def test_every_sns_topic_is_encrypted(cfn: Json) -> None:
    for name, topic in _of_type(cfn, "AWS::SNS::Topic").items():
        assert topic.get("Properties", {}).get("KmsMasterKeyId"), name


def _referenced_names(template: Json) -> Iterator[tuple[str, Any]]:
    for node in filter(lambda n: isinstance(n, dict) and len(n) == 1, _walk(template)):
        (fn, arg), = node.items()  # fmt: skip
        if fn == "Ref" and isinstance(arg, str):
            yield arg.split(".")[0], node  # "Api.Stage" / "Function.Alias" name SAM-made resources
        elif fn == "Fn::GetAtt":
            yield (arg.split(".")[0] if isinstance(arg, str) else arg[0]), node
        elif fn == "Fn::Sub":
            text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            names = [v.split(".")[0] for v in re.findall(r"\$\{([^!}][^}]*)\}", text)]
            yield from ((name, node) for name in names if name not in local)


def test_every_ref_getatt_and_sub_name_exists(sam: Json, cfn: Json) -> None:
    known = set(sam.get("Parameters", {})) | set(sam["Resources"]) | set(cfn["Resources"]) | PSEUDO
    dangling = [(name, node) for name, node in _referenced_names(sam) if name not in known]
    assert dangling == []


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom):
            names.update(a.asname or a.name for a in node.names)
    return names


def test_every_function_code_uri_holds_its_handler(sam: Json) -> None:
    defaults = sam.get("Globals", {}).get("Function", {})
    functions = _of_type(sam, "AWS::Serverless::Function")
    assert functions
    for name, fn in functions.items():
        props = {**defaults, **fn["Properties"]}
        code_uri, handler = props.get("CodeUri"), props.get("Handler")
        assert isinstance(code_uri, str), (name, code_uri)
        assert (ROOT / code_uri).is_dir(), (name, code_uri)
        assert isinstance(handler, str), (name, handler)
        assert "." in handler, (name, handler)
        module, attr = handler.rsplit(".", 1)
        source = ROOT / code_uri / (module.replace(".", "/") + ".py")
        assert source.is_file(), (name, str(source.relative_to(ROOT)))
        assert attr in _top_level_names(ast.parse(source.read_text(), str(source))), (name, handler)
    for name, layer in _of_type(sam, "AWS::Serverless::LayerVersion").items():
        assert (ROOT / layer["Properties"]["ContentUri"]).is_dir(), name
