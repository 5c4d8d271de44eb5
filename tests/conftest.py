"""Fixtures for tests against the local stack.

- ``stack``: the local stack of this test process (one ``usage-local run`` per xdist worker, on
  its own ports and state folder, started at the first module that needs it). Every test module
  that uses it starts on empty tables (``LocalStack.empty``): the daily rollup and the
  notifications run visit every organization of the stack, so a module pays for its own
  organizations only; within a module, tests isolate each other by organization (``new_org``).
  Its workers read a fault-control file (``stack.fault_control``, absent: no faults) that only
  tests/api/test_faults.py switches on.
- ``api``: HTTP calls to it.
- ``stack_launcher``: more stacks, for what needs a stack of its own (a restart on the same state
  folder, an environment the template does not give); ``stop()`` them when done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.stack import LocalStack, start_stack
from tests.support import WARM_RUNS

# A stack still running at the end of the session is killed after this many seconds of SIGTERM:
# its state is a temporary folder, and a clean stop is what tests/local_stack tests.
END_OF_SESSION_GRACE_SECONDS = 3


# The modules that take longest, longest first (measured: docs/testing.md). `make test` runs xdist
# with `--dist loadfile --no-loadscope-reorder`: a worker takes the next file in collection order
# whenever it is nearly done, so the longest start first and the short ones fill in at the end.
LONGEST_FIRST = (
    "tests/browser/test_dashboard.py",
    "tests/api/test_faults.py",
    "tests/api/test_fuzz.py",
    "tests/api/test_faults_fuzz.py",
    "tests/store/test_plan_user_bounds.py",
    "tests/api/test_rollup_isolation.py",
    "tests/api/test_insights.py",
    "tests/local_stack/test_local_stack.py",
    "tests/store/test_insights_lists.py",
    "tests/api/test_consumption_settles.py",
    "tests/api/test_observability.py",
    "tests/api/test_notifications.py",
    "tests/api/test_reports.py",
    "tests/store/test_bounded_items.py",
    "tests/api/test_rate_limit.py",
    "tests/store/test_ingest_at_limits.py",
    "tests/api/test_small_hardening.py",
    "tests/local_stack/test_gateway_timeouts.py",
    "tests/api/test_consumption.py",
    "tests/api/test_exports.py",
)
# Every test that runs against a local stack asks for one of these, directly or not.
STACK_FIXTURES = frozenset({"process_stack", "stack_launcher"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Gives each schemathesis operation a node id of its own; marks the tests that need a local
    stack ``stack``; puts the longest modules first."""
    for item in items:
        # schemathesis names an operation's item ``test[GET /v1/health]`` but, under pytest 9, every
        # one gets the test function's node id; xdist schedules by node id, so under `make test`
        # only the first operation of each fuzzer ran. The id gets the operation as its params.
        operation = getattr(item, "operation_label", None)
        if operation and item.id.params is None:
            item._id = item.id.with_params(operation)
        if STACK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stack)
    rank = {path: number for number, path in enumerate(LONGEST_FIRST)}

    def order(pair: tuple[int, pytest.Item]) -> tuple[int, int]:
        index, item = pair
        return rank.get(item.nodeid.split("::", 1)[0], len(rank)), index

    items[:] = [item for _, item in sorted(enumerate(items), key=order)]


# Each test file's wall time, from its first test's start to its last one's end, and the process
# that ran it (under xdist the reports reach the controller with their times and worker).
FILE_TIMES: dict[str, list[Any]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    node = getattr(report, "node", None)  # set by xdist on the controller
    worker = str(node.gateway.id) if node is not None else "main"
    seen = FILE_TIMES.setdefault(path, [report.start, report.stop, worker])
    seen[0], seen[1] = min(seen[0], report.start), max(seen[1], report.stop)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """With ``--durations``: the slowest files' wall times and when they ran (docs/testing.md)."""
    if not terminalreporter.config.getoption("durations") or not FILE_TIMES:
        return
    began = min(start for start, _, _ in FILE_TIMES.values())
    terminalreporter.write_sep("=", "slowest files (wall time; when, from the first test's start)")
    slowest = sorted(FILE_TIMES.items(), key=lambda item: item[1][0] - item[1][1])
    for path, (start, stop, worker) in slowest[:15]:
        terminalreporter.write_line(
            f"{stop - start:7.1f}s  {worker:>4}  {start - began:6.0f}s-{stop - began:4.0f}s  {path}"
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The warm workers of scheduled runs (tests.support.WarmRuns) end with the session."""
    WARM_RUNS.stop()


@pytest.fixture(scope="session")
def stack_launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LocalStack]]:
    """``launch(state_dir, fresh=True, env=None)`` starts another stack; any still running at the
    end of the session is stopped then."""
    started: list[LocalStack] = []

    def launch(state_dir: Path, *, fresh: bool = True, env: dict[str, str] | None = None) -> LocalStack:
        started.append(start_stack(state_dir, fresh=fresh, env=env))
        return started[-1]

    yield launch
    for stack in started:
        stack.stop(grace=END_OF_SESSION_GRACE_SECONDS)


@pytest.fixture(scope="session")
def process_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The local stack of this test process, started empty, with a fault-control file."""
    folder = tmp_path_factory.mktemp("stack")
    started = start_stack(folder / "state", fault_control=folder / "faults.json")
    yield started
    started.stop(grace=END_OF_SESSION_GRACE_SECONDS)


@pytest.fixture(scope="module")
def stack(process_stack: LocalStack) -> LocalStack:
    """This process's stack, emptied for this module (see the module's docstring)."""
    process_stack.empty()
    return process_stack


class Api:
    """HTTP calls to the stack's API: paths relative to its URL, ``role=``/``org_id=`` add a token."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.session = requests.Session()

    def request(
        self,
        method: str,
        path: str,
        *,
        role: str | None = None,
        org_id: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        headers = dict(headers or {})
        if role:
            headers["Authorization"] = f"Bearer {self.stack.token(role, org_id)}"
        kwargs.setdefault("timeout", 60)
        return self.session.request(method, self.stack.url + path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def api(stack: LocalStack) -> Iterator[Api]:
    helper = Api(stack)
    yield helper
    helper.session.close()
