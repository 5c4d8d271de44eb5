"""Fixtures for tests against the local stack: ``stack`` (one ``usage-local run`` per xdist worker,
on its own ports and state folder), ``api`` (HTTP calls to it), ``stack_launcher`` (more stacks,
e.g. to restart one on the same state folder)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.stack import LocalStack, start_stack


@pytest.fixture(scope="session")
def stack_launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LocalStack]]:
    """``launch(state_dir, fresh=True)`` starts another stack; every one is stopped at the end."""
    started: list[LocalStack] = []

    def launch(state_dir: Path, *, fresh: bool = True, env: dict[str, str] | None = None) -> LocalStack:
        started.append(start_stack(state_dir, fresh=fresh, env=env))
        return started[-1]

    yield launch
    for stack in started:
        stack.stop()


@pytest.fixture(scope="session")
def stack(stack_launcher: Callable[..., LocalStack], tmp_path_factory: pytest.TempPathFactory) -> LocalStack:
    """The local stack of this test process (one per xdist worker), started empty."""
    return stack_launcher(tmp_path_factory.mktemp("stack") / "state")


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
