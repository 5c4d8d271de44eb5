"""Each function's Powertools resolver serves exactly the routes template.yaml sends it, and its
OpenAPI document (built from the pydantic models) describes every one of them."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from tests.support import ROOT
from usage_local.template import Template

TEMPLATE = Template.load(ROOT / "template.yaml")
API_FUNCTIONS = sorted({route.function for route in TEMPLATE.routes()})


def _openapi(function: str) -> dict[str, Any]:
    code_dir = TEMPLATE.properties(function)["CodeUri"].strip("/").replace("/", ".")
    module = importlib.import_module(f"{code_dir}.app")
    document: dict[str, Any] = json.loads(module.app.get_openapi_json_schema(title=function, version="1"))
    return document


@pytest.mark.parametrize("function", API_FUNCTIONS)
def test_the_openapi_of_each_function_lists_exactly_its_template_routes(function: str) -> None:
    document = _openapi(function)
    served = {(method.upper(), path) for path, methods in document["paths"].items() for method in methods}
    routed = {(route.method, route.path) for route in TEMPLATE.routes() if route.function == function}
    assert served == routed


def test_request_bodies_are_described_by_their_models() -> None:
    document = _openapi("ApiFunction")
    create_plan = document["paths"]["/v1/orgs/{org_id}/plans"]["post"]
    schema_ref = create_plan["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][schema_ref.rsplit("/", 1)[-1]]
    assert set(schema["required"]) == {"type", "product", "amount", "start"}
    assert set(schema["properties"]) >= {"end", "overdraft", "enforcement", "grace_days"}


def test_docs_openapi_json_is_the_document_the_code_generates() -> None:
    from usage_local.openapi import openapi_text

    committed = (ROOT / "docs" / "openapi.json").read_text()
    assert openapi_text(ROOT) == committed, "run: .venv/bin/usage-local openapi --output docs/openapi.json"


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node))
    return set()


def test_every_route_answers_a_typed_body_or_the_error_body_and_every_reference_resolves() -> None:
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    schemas = document["components"]["schemas"]
    assert {ref.rsplit("/", 1)[-1] for ref in _refs(document)} <= set(schemas)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for status in ("4XX", "5XX"):
                assert responses[status]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorBody"
                }, (method, path)
            ok = [code for code in responses if code.startswith("2")]
            assert ok, (method, path)
            for code in ok:
                if code != "204":
                    schema = responses[code]["content"]["application/json"]["schema"]
                    assert "$ref" in schema, (method, path, schema)


def test_the_report_usage_users_and_activity_are_described_field_by_field() -> None:
    schemas = json.loads((ROOT / "docs" / "openapi.json").read_text())["components"]["schemas"]
    assert set(schemas["LicenseAiUsageReport"]["required"]) >= {
        "org_id",
        "timeframe",
        "license_usage",
        "user_activity",
        "roles_distribution",
        "consumption_by_group",
        "ai_actions",
        "freshness",
    }
    assert set(schemas["AiActionsOut"]["properties"]) == {"total", "by_type", "weekly"}
    assert set(schemas["SeatsMonthOut"]["properties"]) >= {"peak_seats_in_use", "seats_in_use_end", "hard_limit"}
    assert set(schemas["MaucMonthOut"]["properties"]) >= {"credits_used", "cumulative_used", "credits_remaining"}
    assert "anyOf" in schemas["UsageOut"]["properties"]["months"]
    assert set(schemas["PlanUserOut"]["properties"]) >= {"user_id", "status", "group", "first_login", "months"}
    assert set(schemas["ActivityEntry"]["properties"]) == {
        "timestamp",
        "type",
        "user_id",
        "ip",
        "instance_id",
        "product",
        "details",
    }
    assert set(schemas["ErrorInfo"]["properties"]) == {"code", "message", "details"}
