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
