"""The ports a function wired at its entry (``build_resolver(..., ports=...)``), as a route reads them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler.api_gateway import Router

if TYPE_CHECKING:
    from license_usage.usecases.ports import Ports


def ports_of(router: Router) -> Ports:
    ports: Ports | None = getattr(router.api_resolver, "ports", None)
    if ports is None:
        raise RuntimeError("The function did not wire its ports (build_resolver(..., ports=...)).")
    return ports
