"""Fault injection for the local stack (issue 14): makes a chosen share of the handlers' calls to
DynamoDB, S3, SNS and EventBridge fail as AWS fails them — throttled, a 5xx, or a read timeout
(half of those after the request really reached the stand-in, so the write happened and only
its answer was lost). Local only: the worker installs it when ``USAGE_LOCAL_FAULTS_FILE`` names a
control file; the Lambda layer knows nothing of it.

The control file is JSON, read again whenever its mtime changes, so tests switch faults on and
off while the stack runs; a missing or unreadable file means off::

    {"rate": 0.1, "services": ["dynamodb", "s3", "sns", "events"], "seed": 7, "points": ["export_write"]}

``points`` switches the product's own fault points (``license_usage.faults``) on from the next
invocation of every worker, as ``LICENSE_USAGE_FAULTS`` does for a stack started with it.

Every injected fault appends one JSON line to ``<control file>.log`` (``pid``, ``service``,
``operation``, ``kind``), which tests count to know the faults fired.

Every botocore client, pynamodb's own included (it makes its own sessions), sends through
``botocore.httpsession.URLLib3Session.send``: wrapping that method covers them all, before or
after they were created. The service is read from the request's SigV4 credential scope. SQS
(the local event-source poller, the export job's queue), SSM, the JWKS fetch (not botocore) and
moto's ``/moto-api`` are never faulted."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ReadTimeoutError
from botocore.httpsession import URLLib3Session

CONTROL_FILE_VARIABLE = "USAGE_LOCAL_FAULTS_FILE"
POINTS_VARIABLE = "LICENSE_USAGE_FAULTS"
SERVICES = ("dynamodb", "s3", "sns", "events")
# Evenly: throttled, a 5xx, a timeout before the request is sent, a timeout after it was served.
KINDS = ("throttle", "server_error", "timeout_before", "timeout_after")

_SCOPE = re.compile(r"Credential=[^/,]+/\d{8}/[^/,]+/([^/,]+)/aws4_request")
_TARGET_SERVICES = {"DynamoDB_20120810": "dynamodb", "AWSEvents": "events", "AmazonSQS": "sqs", "AmazonSSM": "ssm"}


@dataclass(frozen=True)
class FaultSettings:
    rate: float = 0.0
    services: frozenset[str] = frozenset()
    seed: int | None = None
    points: tuple[str, ...] = ()


OFF = FaultSettings()


def write_settings(
    path: Path, rate: float, services: tuple[str, ...] = SERVICES, seed: int | None = None, points: tuple[str, ...] = ()
) -> None:
    """Switch faults on (``rate`` > 0) or off (0) for every worker that reads ``path``, and the
    product's fault ``points``."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"rate": rate, "services": list(services), "seed": seed, "points": list(points)}))
    temporary.replace(path)


def fault_log(path: Path) -> Path:
    return path.with_name(path.name + ".log")


def injected(path: Path) -> list[dict[str, Any]]:
    """The faults injected so far by every worker reading ``path`` (one dict per fault)."""
    log = fault_log(path)
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def service_of(request: AWSPreparedRequest) -> str | None:
    """The AWS service a signed request is for (its SigV4 scope, else its X-Amz-Target)."""
    headers = request.headers
    authorization = str(headers.get("Authorization") or "")
    found = _SCOPE.search(authorization)
    if found:
        return found.group(1)
    target = str(headers.get("X-Amz-Target") or "")
    return _TARGET_SERVICES.get(target.split(".")[0]) if target else None


def operation_of(service: str, request: AWSPreparedRequest) -> str:
    target = request.headers.get("X-Amz-Target")
    if target:
        return str(target).split(".")[-1]
    if service == "sns" and request.body:
        body = request.body if isinstance(request.body, bytes | str) else b""
        text = body.decode(errors="replace") if isinstance(body, bytes) else body
        return parse_qs(text).get("Action", ["?"])[0]
    return f"{request.method} {urlsplit(request.url).path}"


class _Body:
    """What AWSResponse reads a body from."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, *_: Any, **__: Any) -> Iterator[bytes]:
        yield self._content

    def read(self, *_: Any, **__: Any) -> bytes:
        content, self._content = self._content, b""
        return content

    def release_conn(self) -> None:
        pass

    def close(self) -> None:
        pass


def _answer(request: AWSPreparedRequest, status: int, content_type: str, body: str) -> AWSResponse:
    headers = {"Content-Type": content_type, "x-amzn-RequestId": str(uuid.uuid4()), "Content-Length": str(len(body))}
    return AWSResponse(request.url, status, headers, _Body(body.encode()))


def error_answer(service: str, kind: str, variant: int, request: AWSPreparedRequest) -> AWSResponse:
    """A throttling or 5xx answer in the service's own protocol (``variant`` picks one of two)."""
    if service == "dynamodb":
        codes = {
            "throttle": [(400, "ThrottlingException"), (400, "ProvisionedThroughputExceededException")],
            "server_error": [(500, "InternalServerError"), (503, "ServiceUnavailable")],
        }
        status, code = codes[kind][variant % 2]
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected"})
        return _answer(request, status, "application/x-amz-json-1.0", body)
    if service == "events":
        codes = {
            "throttle": [(400, "ThrottlingException"), (400, "ThrottlingException")],
            "server_error": [(500, "InternalException"), (503, "ServiceUnavailable")],
        }
        status, code = codes[kind][variant % 2]
        body = json.dumps({"__type": code, "message": "injected"})
        return _answer(request, status, "application/x-amz-json-1.1", body)
    if service == "sns":
        codes = {
            "throttle": [(400, "Throttling"), (400, "Throttling")],
            "server_error": [(500, "InternalError"), (503, "ServiceUnavailable")],
        }
        status, code = codes[kind][variant % 2]
        fault = "Sender" if status < 500 else "Receiver"
        body = (
            '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
            f"<Error><Type>{fault}</Type><Code>{code}</Code><Message>injected</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        )
        return _answer(request, status, "text/xml", body)
    codes = {
        "throttle": [(503, "SlowDown"), (503, "SlowDown")],
        "server_error": [(500, "InternalError"), (503, "ServiceUnavailable")],
    }
    status, code = codes[kind][variant % 2]
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>injected</Message></Error>'
    return _answer(request, status, "application/xml", body)


class FaultInjector:
    """Decides, per call, whether to fail it and how; reads the control file when it changes."""

    def __init__(self, control: Path) -> None:
        self.control = control
        self.log = fault_log(control)
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._settings = OFF
        self._random = random.Random()  # noqa: S311 (fault choice, not a secret)
        self._count = 0
        self._own_points = [p for p in os.environ.get(POINTS_VARIABLE, "").split(",") if p]

    def apply_points(self) -> None:
        """Before an invocation: the product's fault points are the worker's own
        (``LICENSE_USAGE_FAULTS``) and the control file's."""
        points = [*self._own_points, *self.settings().points]
        if points:
            os.environ[POINTS_VARIABLE] = ",".join(points)
        else:
            os.environ.pop(POINTS_VARIABLE, None)

    def settings(self) -> FaultSettings:
        try:
            mtime = self.control.stat().st_mtime_ns
        except OSError:
            mtime = None
        with self._lock:
            if mtime != self._mtime:
                self._mtime = mtime
                self._settings = self._read() if mtime is not None else OFF
            return self._settings

    def _read(self) -> FaultSettings:
        try:
            raw = json.loads(self.control.read_text())
            settings = FaultSettings(
                rate=float(raw.get("rate", 0)),
                services=frozenset(str(s) for s in raw.get("services", SERVICES)) & frozenset(SERVICES),
                seed=raw.get("seed"),
                points=tuple(str(p) for p in raw.get("points", [])),
            )
        except (OSError, ValueError, TypeError, AttributeError):
            return OFF
        if settings.seed is not None:
            self._random.seed(f"{settings.seed}/{os.getpid()}")
        return settings

    def choose(self, service: str | None) -> tuple[str, int] | None:
        """The fault kind (and a variant) for this call, or None to let it through."""
        settings = self.settings()
        if service is None or service not in settings.services or settings.rate <= 0:
            return None
        with self._lock:
            if self._random.random() >= settings.rate:
                return None
            self._count += 1
            return KINDS[self._random.randrange(len(KINDS))], self._random.randrange(2)

    def record(self, service: str, operation: str, kind: str) -> None:
        line = json.dumps({"pid": os.getpid(), "service": service, "operation": operation, "kind": kind}) + "\n"
        # One append per fault: O_APPEND keeps the lines of concurrent workers whole.
        with contextlib.suppress(OSError):
            descriptor = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(descriptor, line.encode())
            finally:
                os.close(descriptor)

    def send(self, original: Callable[[URLLib3Session, AWSPreparedRequest], AWSResponse]) -> Callable[..., AWSResponse]:
        injector = self

        def send(session: URLLib3Session, request: AWSPreparedRequest) -> AWSResponse:
            if urlsplit(request.url).path.startswith("/moto-api"):
                return original(session, request)
            service = service_of(request)
            chosen = injector.choose(service)
            if chosen is None or service is None:
                return original(session, request)
            kind, variant = chosen
            injector.record(service, operation_of(service, request), kind)
            if kind == "timeout_before":
                raise ReadTimeoutError(endpoint_url=request.url)
            if kind == "timeout_after":
                answer = original(session, request)
                with contextlib.suppress(Exception):
                    answer.content  # noqa: B018 (drain it, so its connection goes back to the pool)
                raise ReadTimeoutError(endpoint_url=request.url)
            return error_answer(service, kind, variant, request)

        send.__wrapped__ = original  # type: ignore[attr-defined]
        return send


_installed: FaultInjector | None = None


def install(control: Path | None = None) -> FaultInjector | None:
    """Wrap botocore's HTTP send in this process (once), if a control file is configured."""
    global _installed
    if _installed is not None:
        return _installed
    if control is None:
        configured = os.environ.get(CONTROL_FILE_VARIABLE)
        if not configured:
            return None
        control = Path(configured)
    _installed = FaultInjector(control)
    URLLib3Session.send = _installed.send(URLLib3Session.send)
    return _installed
