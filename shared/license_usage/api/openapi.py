"""The API's one OpenAPI document (``docs/openapi.json``), from the functions' own resolvers:
their routes, request and response models, and the error body every route may answer with."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from license_usage.api.models.common import ErrorBody
from license_usage.api.routers.events import REQUEST_BODIES

TITLE = "License & AI Usage Reporting"
VERSION = "1"
_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_ERROR_RESPONSES = {
    "4XX": {
        "description": "Refused: the error body of SPEC §5",
        "content": {"application/json": {"schema": _ERROR_REF}},
    },
    "5XX": {"description": "Failed on our side", "content": {"application/json": {"schema": _ERROR_REF}}},
}
# Powertools describes its own validation answer; ours maps it to the error body (api/errors.py).
_POWERTOOLS_VALIDATION = ("HTTPValidationError", "ValidationError", "ResponseValidationError")


def api_document(resolvers: Iterable[APIGatewayRestResolver]) -> dict[str, Any]:
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION},
        "paths": {},
        "components": {"schemas": {}},
    }
    for resolver in resolvers:
        part = json.loads(resolver.get_openapi_json_schema(title=TITLE, version=VERSION))
        for path, operations in part.get("paths", {}).items():
            document["paths"].setdefault(path, {}).update(operations)
        document["components"]["schemas"].update(part.get("components", {}).get("schemas", {}))
    schemas = document["components"]["schemas"]
    for (path, method), model in REQUEST_BODIES.items():
        body_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(body_schema.pop("$defs", {}))
        schemas[model.__name__] = body_schema
        document["paths"][path][method]["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        }
    error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas["ErrorBody"] = error_schema
    for name in _POWERTOOLS_VALIDATION:
        schemas.pop(name, None)
    for operations in document["paths"].values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for powertools_own in ("422", "500"):
                responses.pop(powertools_own, None)
            responses.update(_ERROR_RESPONSES)
    document["paths"] = dict(sorted(document["paths"].items()))
    document["components"]["schemas"] = dict(sorted(schemas.items()))
    return document


def document_text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False) + "\n"
