"""Settings kept outside the function's environment: the accepted JWT audience when the stack made
its own Cognito app client (an SSM parameter: its id cannot be an environment variable without a
dependency cycle between the functions, the API, the CloudFront distribution and the client)."""

from __future__ import annotations

import os
from functools import cache


@cache
def jwt_audience() -> str | None:
    """``JWT_AUDIENCE``, or the value of the SSM parameter ``JWT_AUDIENCE_PARAMETER`` names (read once
    per instance); None when neither is set."""
    direct = os.environ.get("JWT_AUDIENCE")
    if direct:
        return direct
    name = os.environ.get("JWT_AUDIENCE_PARAMETER")
    if not name:
        return None
    import boto3

    value: str = boto3.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    return value or None
