"""The local API Gateway (REST API, Lambda proxy integration, payload version 1.0): serves every
``Type: Api`` event of template.yaml's functions, calls the API's Lambda authorizer (REQUEST or
TOKEN) and evaluates its IAM policy, builds the proxy event, and turns the function's answer back
into HTTP; errors use the template's GatewayResponses, else API Gateway's defaults."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from usage_local.lambda_runtime import Invocation, LambdaService
from usage_local.stacklog import log
from usage_local.template import ACCOUNT_ID, REGION, Json, Route, Template

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's limit on a request
# A client's connection is not held open at its pleasure (issue 20): a request (its line, headers
# and body) must arrive whole within READ_TIMEOUT of its first byte, and a connection waits at most
# IDLE_TIMEOUT for a request's first byte (a new connection, or between keep-alive requests);
# else it is closed. Each is set in seconds by its variable (tests shorten them). The 29 s
# integration timeout is the functions' own (Gateway._proxy_response).
READ_TIMEOUT_VARIABLE = "USAGE_LOCAL_READ_TIMEOUT_SECONDS"
IDLE_TIMEOUT_VARIABLE = "USAGE_LOCAL_IDLE_TIMEOUT_SECONDS"
DEFAULT_READ_TIMEOUT_SECONDS = 10.0
DEFAULT_IDLE_TIMEOUT_SECONDS = 60.0
MAX_INVOKE_BYTES = 6 * 1024 * 1024  # Lambda's limit on a synchronous invocation's event
IMPLICIT_API_STAGE = "Prod"  # SAM's stage for events without RestApiId

# API Gateway's own gateway responses, where the template defines none.
DEFAULT_RESPONSES: dict[str, tuple[int, Any]] = {
    "MISSING_AUTHENTICATION_TOKEN": (403, {"message": "Missing Authentication Token"}),
    "UNAUTHORIZED": (401, {"message": "Unauthorized"}),
    "ACCESS_DENIED": (403, {"Message": "User is not authorized to access this resource with an explicit deny"}),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, {"message": None}),
    "AUTHORIZER_FAILURE": (500, {"message": None}),
    "REQUEST_TOO_LARGE": (413, {"message": "Request Too Long"}),
    "INTEGRATION_FAILURE": (502, {"message": "Internal server error"}),
    "INTEGRATION_TIMEOUT": (504, {"message": "Endpoint request timed out"}),
}


def timeout_setting(variable: str, default: float) -> float:
    """Seconds from the environment ``variable`` (more than 0), else ``default``."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    seconds = float(text)
    if not seconds > 0:
        raise ValueError(f"{variable} must be a number of seconds above 0, not {text!r}")
    return seconds


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Authorizer:
    """A Lambda authorizer of an AWS::Serverless::Api's Auth.Authorizers."""

    name: str
    function: str  # logical id
    payload_type: Literal["REQUEST", "TOKEN"]
    token_header: str
    validation_expression: str | None
    identity_headers: tuple[str, ...]
    identity_query_strings: tuple[str, ...]
    ttl_seconds: int


@dataclass(frozen=True)
class ApiRoute:
    route: Route
    pattern: re.Pattern[str]
    parameters: tuple[str, ...]
    api_id: str
    stage: str
    authorizer: Authorizer | None
    gateway_responses: Json
    stage_variables: dict[str, str] | None
    binary_media_types: tuple[str, ...]

    @property
    def specificity(self) -> tuple[int, ...]:
        """API Gateway prefers literal path parts to {params}, and {params} to greedy {proxy+}."""
        parts = self.route.path.strip("/").split("/")
        return tuple(2 if p.endswith("+}") else 1 if p.startswith("{") else 0 for p in parts)


def compile_path(path: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """A regex for a template path such as ``/v1/orgs/{org_id}/api-keys`` or ``/{proxy+}``."""
    names: list[str] = []
    regex = ""
    for part in path.strip("/").split("/"):
        if part.startswith("{") and part.endswith("+}"):
            regex += "/(.+)"
            names.append(part[1:-2])
        elif part.startswith("{") and part.endswith("}"):
            regex += "/([^/]+)"
            names.append(part[1:-1])
        elif part:
            regex += "/" + re.escape(part)
    return re.compile((regex or "/") + "/?"), tuple(names)


def method_arn(api_id: str, stage: str, method: str, path: str) -> str:
    return f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{api_id}/{stage}/{method}/{path.lstrip('/')}"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _glob(pattern: str, text: str, case_sensitive: bool = True) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, 0 if case_sensitive else re.IGNORECASE) is not None


def evaluate_policy(policy: Any, arn: str) -> Literal["allow", "deny"]:
    """IAM evaluation of an authorizer's policy for ``execute-api:Invoke`` on ``arn``: an explicit
    Deny wins, then an Allow; nothing matching is a deny."""
    allowed = False
    statements = _as_list(policy.get("Statement")) if isinstance(policy, dict) else []
    for statement in statements:
        if not isinstance(statement, dict):
            continue
        actions = [str(a) for a in _as_list(statement.get("Action"))]
        resources = [str(r) for r in _as_list(statement.get("Resource"))]
        if not any(_glob(a, "execute-api:Invoke", case_sensitive=False) for a in actions):
            continue
        if not any(_glob(r, arn) for r in resources):
            continue
        effect = str(statement.get("Effect", "")).lower()
        if effect == "deny":
            return "deny"
        allowed = allowed or effect == "allow"
    return "allow" if allowed else "deny"


def _function_of(arn: Any) -> str | None:
    """The logical id of the function an authorizer's FunctionArn (!GetAtt Fn.Arn) names."""
    if isinstance(arn, dict) and "Fn::GetAtt" in arn:
        target = arn["Fn::GetAtt"]
        return str(target.split(".")[0] if isinstance(target, str) else target[0])
    return None


@dataclass
class _CacheEntry:
    expires: float
    policy: Any
    principal_id: str
    context: dict[str, str]


@dataclass
class Gateway:
    """Routes requests to the functions' pools; ``handle`` is the whole of API Gateway's work."""

    template: Template
    lambdas: LambdaService
    host: str = "127.0.0.1"
    port: int = 3000
    # The dashboard's static files, served at / as CloudFront serves them from their bucket in
    # production (every path outside /v1/ is a file of it); None: no dashboard.
    static_dir: Path | None = None
    read_timeout: float = field(
        default_factory=lambda: timeout_setting(READ_TIMEOUT_VARIABLE, DEFAULT_READ_TIMEOUT_SECONDS)
    )
    idle_timeout: float = field(
        default_factory=lambda: timeout_setting(IDLE_TIMEOUT_VARIABLE, DEFAULT_IDLE_TIMEOUT_SECONDS)
    )
    routes: list[ApiRoute] = field(init=False)
    _cache: dict[tuple[str, ...], _CacheEntry] = field(init=False, default_factory=dict)
    _server: ThreadingHTTPServer | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.routes = sorted(self._compile_routes(), key=lambda r: r.specificity)

    # ------------------------------------------------------------------ routes from the template
    def _compile_routes(self) -> list[ApiRoute]:
        compiled: list[ApiRoute] = []
        for route in self.template.routes():
            if route.function not in self.lambdas.specs:
                log("gateway", f"{route.method} {route.path}: {route.function} cannot run locally; not served")
                continue
            if route.api:
                api = self.template.resolve(
                    {k: v for k, v in self.template.properties(route.api).items() if k != "Auth"}
                )
                auth: Json = self.template.properties(route.api).get("Auth") or {}
                api_id, stage = self.template.api_id(route.api), str(api.get("StageName", IMPLICIT_API_STAGE))
            else:
                api, auth = {}, {}
                api_id, stage = self.template.api_id("ServerlessRestApi"), IMPLICIT_API_STAGE
            pattern, names = compile_path(route.path)
            compiled.append(
                ApiRoute(
                    route=route,
                    pattern=pattern,
                    parameters=names,
                    api_id=api_id,
                    stage=stage,
                    authorizer=self._authorizer(route, auth),
                    gateway_responses=api.get("GatewayResponses") or {},
                    stage_variables=api.get("Variables") or None,
                    binary_media_types=tuple(str(t).replace("~1", "/") for t in api.get("BinaryMediaTypes") or []),
                )
            )
        return compiled

    def _authorizer(self, route: Route, auth: Json) -> Authorizer | None:
        name = route.authorizer or auth.get("DefaultAuthorizer")
        if not name or name == "NONE":
            return None
        definition = (auth.get("Authorizers") or {}).get(name)
        function = _function_of((definition or {}).get("FunctionArn"))
        if not definition or function is None or function not in self.lambdas.specs:
            raise ValueError(
                f"{route.method} {route.path} uses authorizer {name!r}, which is not a Lambda authorizer "
                "of a local function: the local stack cannot run it."
            )
        identity = definition.get("Identity") or {}
        payload_type = str(definition.get("FunctionPayloadType", "TOKEN")).upper()
        return Authorizer(
            name=name,
            function=function,
            payload_type="REQUEST" if payload_type == "REQUEST" else "TOKEN",
            token_header=str(identity.get("Header", "Authorization")),
            validation_expression=identity.get("ValidationExpression"),
            identity_headers=tuple(identity.get("Headers") or ()),
            identity_query_strings=tuple(identity.get("QueryStrings") or ()),
            ttl_seconds=int(identity.get("ReauthorizeEvery", 300)),
        )

    def match(self, method: str, path: str) -> tuple[ApiRoute, dict[str, str]] | None:
        # API Gateway first finds the resource (the most specific path), then the method on it.
        for candidate in self.routes:
            found = candidate.pattern.fullmatch(path)
            if not found:
                continue
            for route in self.routes:
                if route.route.path == candidate.route.path and route.route.method in (method, "ANY"):
                    # As API Gateway (REST) does: path parameters are passed still percent-encoded.
                    values = dict(zip(route.parameters, found.groups(), strict=True))
                    return route, values
            return None
        return None

    # ------------------------------------------------------------------ one request
    def handle(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> HttpResponse:
        request_id = str(uuid.uuid4())
        url = urlsplit(target)
        path = url.path or "/"
        if self.static_dir is not None and not path.startswith("/v1/") and method in ("GET", "HEAD"):
            return static_file(self.static_dir, path)
        matched = self.match(method, path)
        if matched is None:
            return self._gateway_response(None, "MISSING_AUTHENTICATION_TOKEN", request_id)
        route, path_parameters = matched
        if len(body) > MAX_PAYLOAD_BYTES:
            return self._gateway_response(route, "REQUEST_TOO_LARGE", request_id)
        event = self._proxy_event(route, method, path, url.query, headers, body, path_parameters, source_ip, request_id)
        if route.authorizer is not None:
            denied = self._authorize(route, route.authorizer, event, request_id)
            if denied is not None:
                return denied
        if len(json.dumps(event)) > MAX_INVOKE_BYTES:
            # Lambda refuses such an event; answering 413 says why instead of a bare 5xx.
            return self._gateway_response(route, "REQUEST_TOO_LARGE", request_id)
        invocation = self.lambdas.invoke(route.route.function, event, request_id)
        return self._proxy_response(route, invocation, request_id)

    def _proxy_event(
        self,
        route: ApiRoute,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes,
        path_parameters: dict[str, str],
        source_ip: str,
        request_id: str,
    ) -> Json:
        now = datetime.now(UTC)
        host = next((v for k, v in headers if k.lower() == "host"), f"{self.host}:{self.port}")
        headers = [
            *headers,
            ("X-Forwarded-For", source_ip),
            ("X-Forwarded-Port", str(self.port)),
            ("X-Forwarded-Proto", "http"),
            ("X-Amzn-Trace-Id", f"Root=1-{int(now.timestamp()):08x}-{uuid.uuid4().hex[:24]}"),
        ]
        multi_headers: dict[str, list[str]] = {}
        for name, value in headers:
            multi_headers.setdefault(name, []).append(value)
        multi_query: dict[str, list[str]] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            multi_query.setdefault(name, []).append(value)
        content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
        binary = any(_glob(t, content_type.split(";")[0].strip()) for t in route.binary_media_types)
        text: str | None = None
        encoded = False
        if body:
            try:
                text = base64.b64encode(body).decode() if binary else body.decode("utf-8")
                encoded = binary
            except UnicodeDecodeError:
                text, encoded = base64.b64encode(body).decode(), True
        return {
            "resource": route.route.path,
            "path": path,
            "httpMethod": method,
            "headers": {k: v[-1] for k, v in multi_headers.items()},
            "multiValueHeaders": multi_headers,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_parameters or None,
            "stageVariables": route.stage_variables,
            "requestContext": {
                "resourceId": uuid.uuid5(uuid.NAMESPACE_URL, route.route.path).hex[:6],
                "resourcePath": route.route.path,
                "httpMethod": method,
                "extendedRequestId": request_id,
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "path": f"/{route.stage}{path}",
                "accountId": ACCOUNT_ID,
                "protocol": "HTTP/1.1",
                "stage": route.stage,
                "domainPrefix": host.split(".")[0],
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "requestId": request_id,
                "identity": {
                    "cognitoIdentityPoolId": None,
                    "accountId": None,
                    "cognitoIdentityId": None,
                    "caller": None,
                    "sourceIp": source_ip,
                    "principalOrgId": None,
                    "accessKey": None,
                    "cognitoAuthenticationType": None,
                    "cognitoAuthenticationProvider": None,
                    "userArn": None,
                    "userAgent": next((v for k, v in headers if k.lower() == "user-agent"), None),
                    "user": None,
                },
                "domainName": host,
                "apiId": route.api_id,
            },
            "body": text,
            "isBase64Encoded": encoded,
        }

    def _authorize(self, route: ApiRoute, authorizer: Authorizer, event: Json, request_id: str) -> HttpResponse | None:
        """None when the request may go on (``event`` then carries requestContext.authorizer)."""
        arn = method_arn(route.api_id, route.stage, event["httpMethod"], event["path"])
        lower_headers = {k.lower(): v for k, v in event["headers"].items()}
        query = event["queryStringParameters"] or {}
        if authorizer.payload_type == "TOKEN":
            token = lower_headers.get(authorizer.token_header.lower())
            if not token or (
                authorizer.validation_expression and not re.fullmatch(authorizer.validation_expression, token)
            ):
                return self._gateway_response(route, "UNAUTHORIZED", request_id)
            identity: tuple[str, ...] = (token,)
            auth_event: Json = {"type": "TOKEN", "methodArn": arn, "authorizationToken": token}
        else:
            identity = tuple(lower_headers.get(h.lower(), "") for h in authorizer.identity_headers) + tuple(
                str(query.get(q, "")) for q in authorizer.identity_query_strings
            )
            if not all(identity):
                # API Gateway refuses a request lacking a declared identity source without calling the function.
                return self._gateway_response(route, "UNAUTHORIZED", request_id)
            auth_event = {"type": "REQUEST", "methodArn": arn}
            auth_event.update({k: v for k, v in event.items() if k not in ("body", "isBase64Encoded")})
            auth_event["requestContext"] = dict(event["requestContext"])
        # Results are cached per identity source values only, as API Gateway does; none → no cache.
        cache_key = (authorizer.name, *identity) if identity and authorizer.ttl_seconds > 0 else None
        started = time.monotonic()
        entry = self._cache.get(cache_key) if cache_key else None
        if entry is None or entry.expires < time.monotonic():
            entry_or_error = self._call_authorizer(route, authorizer, auth_event, request_id)
            if isinstance(entry_or_error, HttpResponse):
                return entry_or_error
            entry = entry_or_error
            if cache_key:
                self._cache[cache_key] = entry
        if evaluate_policy(entry.policy, arn) != "allow":
            return self._gateway_response(route, "ACCESS_DENIED", request_id)
        event["requestContext"]["authorizer"] = {
            **entry.context,
            "principalId": entry.principal_id,
            "integrationLatency": int((time.monotonic() - started) * 1000),
        }
        return None

    def _call_authorizer(
        self, route: ApiRoute, authorizer: Authorizer, auth_event: Json, request_id: str
    ) -> _CacheEntry | HttpResponse:
        invocation = self.lambdas.invoke(authorizer.function, auth_event)
        if not invocation.ok:
            assert invocation.error is not None
            if invocation.error.get("errorMessage") == "Unauthorized":
                return self._gateway_response(route, "UNAUTHORIZED", request_id)
            log("gateway", f"authorizer {authorizer.name} failed: {invocation.error.get('errorMessage')}")
            return self._gateway_response(route, "AUTHORIZER_CONFIGURATION_ERROR", request_id)
        result = invocation.result
        context = result.get("context") if isinstance(result, dict) else None
        if (
            not isinstance(result, dict)
            or "principalId" not in result
            or not isinstance(result.get("policyDocument"), dict)
            or not isinstance(context or {}, dict)
            or any(isinstance(v, dict | list) or v is None for v in (context or {}).values())
        ):
            log("gateway", f"authorizer {authorizer.name} answered an invalid response: {result!r}")
            return self._gateway_response(route, "AUTHORIZER_CONFIGURATION_ERROR", request_id)
        # API Gateway hands context values to the function as strings.
        flat = {
            str(k): ("true" if v is True else "false" if v is False else str(v)) for k, v in (context or {}).items()
        }
        return _CacheEntry(
            expires=time.monotonic() + authorizer.ttl_seconds,
            policy=result["policyDocument"],
            principal_id=str(result["principalId"]),
            context=flat,
        )

    def _proxy_response(self, route: ApiRoute, invocation: Invocation, request_id: str) -> HttpResponse:
        if not invocation.ok:
            assert invocation.error is not None
            if invocation.timed_out and self.lambdas.specs[route.route.function].timeout >= 29:
                return self._gateway_response(route, "INTEGRATION_TIMEOUT", request_id)
            log("gateway", f"{route.route.function} failed: {invocation.error.get('errorMessage')}")
            return self._gateway_response(route, "INTEGRATION_FAILURE", request_id)
        result = invocation.result
        status = result.get("statusCode") if isinstance(result, dict) else None
        if not isinstance(result, dict) or not isinstance(status, int | str) or not str(status).isdigit():
            log("gateway", f"{route.route.function}: malformed Lambda proxy response {str(result)[:200]!r}")
            return self._gateway_response(route, "INTEGRATION_FAILURE", request_id)
        combined: dict[str, list[str]] = {}
        for name, value in (result.get("headers") or {}).items():
            combined[name] = [_header_text(value)]
        for name, values in (result.get("multiValueHeaders") or {}).items():
            combined.setdefault(name, [])
            combined[name] += [v for v in map(_header_text, _as_list(values)) if v not in combined[name]]
        body_field = result.get("body")
        if body_field is None:
            body = b""
        elif result.get("isBase64Encoded"):
            body = base64.b64decode(str(body_field))
        else:
            body = str(body_field).encode("utf-8")
        headers = [(name, value) for name, values in combined.items() for value in values]
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("Content-Type", "application/json"))
        return HttpResponse(int(status), [*headers, *self._standard_headers(request_id)], body)

    def _gateway_response(self, route: ApiRoute | None, kind: str, request_id: str) -> HttpResponse:
        status, default_body = DEFAULT_RESPONSES[kind]
        configured = route.gateway_responses if route else self._any_gateway_responses()
        fallback = "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"
        response = configured.get(kind) or configured.get(fallback)
        headers = [("Content-Type", "application/json")]
        if response:
            status = int(response.get("StatusCode", status))
            templates = response.get("ResponseTemplates") or {}
            text = templates.get("application/json")
            message = json.dumps(default_body.get("message") or default_body.get("Message"))
            body = (
                text.replace("$context.error.messageString", message)
                .replace("$context.error.message", message.strip('"'))
                .replace("$context.error.responseType", kind)
                .replace("$context.requestId", request_id)
                .encode()
                if text is not None
                else json.dumps(default_body).encode()
            )
            for name, value in ((response.get("ResponseParameters") or {}).get("Headers") or {}).items():
                headers.append((name, str(value).strip("'")))
        else:
            body = json.dumps(default_body).encode()
        headers.append(("x-amzn-ErrorType", _error_type(kind)))
        return HttpResponse(status, [*headers, *self._standard_headers(request_id)], body)

    def _any_gateway_responses(self) -> Json:
        # An unknown path belongs to no route; with one API the answer still comes from its settings.
        apis = {r.api_id: r.gateway_responses for r in self.routes}
        return next(iter(apis.values())) if len(apis) == 1 else {}

    @staticmethod
    def _standard_headers(request_id: str) -> list[tuple[str, str]]:
        return [("x-amzn-RequestId", request_id), ("x-amz-apigw-id", request_id[:16])]

    # ------------------------------------------------------------------ HTTP server
    def start(self) -> None:
        gateway = self

        class Handler(_RequestHandler):
            pass

        Handler.gateway = gateway
        Handler.read_timeout = self.read_timeout
        Handler.idle_timeout = self.idle_timeout
        server = _Server((self.host, self.port), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, name="gateway", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
# As the CloudFront distribution's response headers policy sets them.
STATIC_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-cache"),
]


def static_file(root: Path, path: str) -> HttpResponse:
    """A file of the dashboard (``/`` is its index.html); 404 outside it or when missing."""
    relative = unquote(path).lstrip("/") or "index.html"
    base = root.resolve()
    target = (base / relative).resolve()
    if base not in target.parents or not target.is_file() or target.suffix not in STATIC_TYPES:
        body = _error_body("not_found", "No such file.")
        return HttpResponse(404, [("Content-Type", "application/json")], body)
    headers = [("Content-Type", STATIC_TYPES[target.suffix]), *STATIC_HEADERS]
    return HttpResponse(200, headers, target.read_bytes())


def _header_text(value: Any) -> str:
    return "true" if value is True else "false" if value is False else str(value)


def _error_type(kind: str) -> str:
    names = {
        "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
        "UNAUTHORIZED": "UnauthorizedException",
        "ACCESS_DENIED": "AccessDeniedException",
        "REQUEST_TOO_LARGE": "RequestTooLargeException",
        "INTEGRATION_TIMEOUT": "InternalServerErrorException",
    }
    return names.get(
        kind, "AuthorizerConfigurationException" if kind.startswith("AUTHORIZER") else "InternalServerErrorException"
    )


class _Server(ThreadingHTTPServer):
    # The default backlog (5) resets connections when a few dozen clients connect at once.
    request_queue_size = 1024


def _error_body(code: str, message: str) -> bytes:
    """SPEC §5's error shape, for what the gateway refuses before any function runs."""
    return json.dumps({"error": {"code": code, "message": message, "details": []}}).encode()


class _TimedReader(io.RawIOBase):
    """A connection's reading side, with the gateway's read timeouts: the first byte of a request
    is waited for at most ``idle`` seconds, the rest of it until ``whole`` seconds after that byte.
    A read past either raises TimeoutError (the HTTP server then drops the connection)."""

    def __init__(self, connection: socket.socket, idle: float, whole: float) -> None:
        super().__init__()
        self._connection = connection
        self._idle = idle
        self._whole = whole
        self._deadline: float | None = None

    def next_request(self) -> None:
        """Before a request is read: its first byte is waited for afresh."""
        self._deadline = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._deadline is None:
            self._connection.settimeout(self._idle)
            read = self._connection.recv_into(buffer)
            self._deadline = time.monotonic() + self._whole
            return read
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request did not arrive whole in time")
        self._connection.settimeout(remaining)
        return self._connection.recv_into(buffer)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients of API Gateway expect
    gateway: Gateway
    read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT_SECONDS

    def setup(self) -> None:
        super().setup()
        self._reader = _TimedReader(self.connection, self.idle_timeout, self.read_timeout)
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        self._reader.next_request()
        super().handle_one_request()

    def _writing(self) -> None:
        """An answer is written with the same patience for a client that does not read it."""
        self.connection.settimeout(self.read_timeout)

    def log_error(self, format: str, *args: Any) -> None:
        if format.startswith("Request timed out"):
            log("gateway", "closed a connection whose request did not arrive in time")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The HTTP server's own refusals (a header too large, a malformed request line) in the
        API's error shape rather than an HTML page."""
        self._writing()
        body = _error_body(f"http_{code}", message or explain or "The request could not be read.")
        self.close_connection = True
        self.send_response(code, message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

    def _content_length(self) -> int | None:
        text = self.headers.get("Content-Length")
        if text is None:
            return 0
        try:
            length = int(text.strip())
        except ValueError:
            return None
        return length if length >= 0 else None

    def _serve(self) -> None:
        started = time.monotonic()
        headers = _header_pairs(self.headers)
        length = self._content_length()
        if length is None:
            self.send_error(400, "Content-Length is not a number of bytes.")
            return
        if length > MAX_PAYLOAD_BYTES:
            # Not read: answer at once and drop the connection, as API Gateway does.
            response = self.gateway._gateway_response(self._route_or_none(), "REQUEST_TOO_LARGE", str(uuid.uuid4()))
            self.close_connection = True
        else:
            try:
                body = self.rfile.read(length) if length else self._read_chunked()
            except ValueError:
                self.send_error(400, "The chunked body is malformed.")
                return
            try:
                response = self.gateway.handle(self.command, self.path, headers, body, self.client_address[0])
            except Exception as exc:  # a bug here must not kill the server thread silently
                log("gateway", f"{self.command} {self.path}: internal error {exc!r}")
                response = HttpResponse(
                    500, [("Content-Type", "application/json")], b'{"message": "Internal server error"}'
                )
        self._writing()
        self.send_response_only(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        elapsed = f"{(time.monotonic() - started) * 1000:.0f} ms"
        try:
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up first (its own timeout, under load): one line, not a traceback
            # per connection from the server's error handler.
            self.close_connection = True
            log("gateway", f"{self.command} {self.path} {response.status} {elapsed}: the client closed the connection")
            return
        log("gateway", f"{self.command} {self.path} {response.status} {elapsed}")

    def _route_or_none(self) -> ApiRoute | None:
        matched = self.gateway.match(self.command, urlsplit(self.path).path)
        return matched[0] if matched else None

    def _read_chunked(self) -> bytes:
        if "chunked" not in (self.headers.get("Transfer-Encoding") or "").lower():
            return b""
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(chunks)
            total += size
            if total > MAX_PAYLOAD_BYTES + 1:
                self.close_connection = True
                return b"".join(chunks) + b"\0" * size  # over the limit: handle() answers 413
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, CONNECT, …) goes to the gateway too, which answers as API
        # Gateway does for a method no route has (rather than the HTTP server's bare 501).
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # _serve logs one line per request itself


def _header_pairs(message: Message) -> list[tuple[str, str]]:
    return [(str(k), str(v)) for k, v in message.items()]
