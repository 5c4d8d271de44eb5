"""API Gateway REQUEST authorizer: authenticates API keys and JWTs, passes the caller on.

Unknown or missing credentials → 401 (raise "Unauthorized"); a valid token whose role the API
does not know → 403 (a Deny policy). Roles and tenancy are then checked per route."""

from __future__ import annotations

import gc

gc.disable()  # cold start: what init builds lives as long as the process, so no collections until frozen at the end

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from license_usage.authentication import authenticate
from license_usage.domain.errors import Forbidden, Unauthenticated
from license_usage.domain.timestamps import utc_now

logger = Logger()


def _policy(principal_id: str, effect: str, method_arn: str, context: dict[str, str]) -> dict[str, Any]:
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": method_arn}],
        },
        "context": context,
    }


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        principal = authenticate(event.get("headers") or {}, utc_now())
    except Unauthenticated as refusal:
        logger.info("refused", extra={"reason": refusal.message})
        raise Exception("Unauthorized") from None  # API Gateway's signal for 401
    except Forbidden as refusal:
        logger.info("denied", extra={"reason": refusal.message})
        return _policy("unknown", "Deny", event["methodArn"], {})
    return _policy(principal.subject, "Allow", event["methodArn"], principal.as_authorizer_context())


gc.freeze()  # init's objects: out of every later collection
gc.enable()
