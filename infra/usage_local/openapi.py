"""``usage-local openapi``: the API's OpenAPI document, built from the resolvers of the functions
that template.yaml routes the API to (their code, imported as Lambda would)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from usage_local.template import Template


def api_resolvers(repo_root: Path) -> list[Any]:
    template = Template.load(repo_root / "template.yaml")
    if str(repo_root) not in sys.path:
        sys.path.insert(0, str(repo_root))
    resolvers = []
    for function in sorted({route.function for route in template.routes()}):
        code_dir = str(template.properties(function)["CodeUri"]).strip("/").replace("/", ".")
        resolvers.append(importlib.import_module(f"{code_dir}.app").app)
    return resolvers


def openapi_text(repo_root: Path) -> str:
    from license_usage.api.openapi import api_document, document_text

    return document_text(api_document(api_resolvers(repo_root)))
