"""One local "Lambda instance" (``python -m usage_local.worker SPEC_JSON RESULT_FD``): a process that
has the function's environment, imports its handler once, then runs invocations one at a time.

Invocations arrive as JSON lines on stdin; each answer is one JSON line on RESULT_FD, so the
handler's own stdout and stderr stay free for its logs, as in Lambda. The process ends when stdin
closes, which also happens when the stack dies."""

from __future__ import annotations

import decimal
import importlib
import json
import os
import signal
import sys
import time
import traceback
from typing import Any


class LambdaContext:
    """The attributes and method of Lambda's Python context object that handlers use."""

    def __init__(self, spec: dict[str, Any], request_id: str, deadline_ms: int) -> None:
        self.function_name: str = spec["physical_name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn: str = spec["arn"]
        self.memory_limit_in_mb: int = int(spec["memory"])
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"local/[$LATEST]{os.getpid()}"
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _json_default(value: object) -> object:
    # Lambda's runtime serialises Decimal (what boto3's DynamoDB resource returns) as a number.
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def _log_error(exc: BaseException) -> None:
    """One log line per error, as Lambda's runtime writes one log event: type, message, frames."""
    frames = " < ".join(
        f"{os.path.basename(f.filename)}:{f.lineno} {f.name}" for f in reversed(traceback.extract_tb(exc.__traceback__))
    )
    print(f"[ERROR] {type(exc).__name__}: {exc} (at {frames})", file=sys.stderr, flush=True)


def main() -> None:
    spec: dict[str, Any] = json.loads(sys.argv[1])
    results = os.fdopen(int(sys.argv[2]), "w", encoding="utf-8")
    # Ctrl-C reaches the whole process group; the stack stops its workers by closing stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # As in Lambda: the code folder first on the path (and the working directory), layers after it.
    sys.path.insert(0, spec["code_dir"])
    sys.path.extend(spec["layer_dirs"])
    module_name, attribute = spec["handler"].rsplit(".", 1)
    handler: Any = None
    init_error: dict[str, Any] | None = None
    injector: Any = None
    try:
        if os.environ.get("USAGE_LOCAL_FAULTS_FILE"):
            # Tests' fault injection (usage_local/faults.py), before the handler makes its clients.
            from usage_local.faults import install

            injector = install()
        handler = getattr(importlib.import_module(module_name), attribute)
    except Exception as exc:  # the error every invocation gets, as Lambda reports an init failure
        _log_error(exc)
        init_error = _error(exc, "Runtime.ImportModuleError" if isinstance(exc, ImportError) else None)

    for line in sys.stdin:
        request = json.loads(line)
        request_id = request["request_id"]
        started = time.perf_counter()
        answer: dict[str, Any]
        if init_error is not None:
            answer = {"ok": False, "error": init_error}
        else:
            context = LambdaContext(spec, request_id, request["deadline_ms"])
            if injector is not None:
                injector.apply_points()
            try:
                result = handler(request["event"], context)
                answer = {"ok": True, "result": result}
            except Exception as exc:  # a handler error is an invocation error, not the worker's end
                _log_error(exc)
                answer = {"ok": False, "error": _error(exc)}
        try:
            text = json.dumps(answer, default=_json_default)
        except (TypeError, ValueError) as exc:
            text = json.dumps({"ok": False, "error": _error(exc, "Runtime.MarshalError")})
        sys.stdout.flush()
        duration = (time.perf_counter() - started) * 1000
        print(f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms", file=sys.stderr, flush=True)
        results.write(text + "\n")
        results.flush()


if __name__ == "__main__":
    main()
