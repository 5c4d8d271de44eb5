"""The local gateway's read timeouts (issue 20, item 8): a client that sends half a request, or
nothing, or a request a byte at a time, is not held open at its pleasure; such connections do not
hold up anyone else's requests. A stack of its own, with the timeouts shortened."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
import requests

from tests.stack import LocalStack

READ_TIMEOUT = 1.5
IDLE_TIMEOUT = 3.0
SLACK = 2.0  # a loaded machine's scheduling; far below the timeouts' absence (forever)


@pytest.fixture(scope="module")
def timed_stack(stack_launcher: Callable[..., LocalStack], tmp_path_factory: pytest.TempPathFactory) -> LocalStack:
    env = {"USAGE_LOCAL_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT), "USAGE_LOCAL_IDLE_TIMEOUT_SECONDS": str(IDLE_TIMEOUT)}
    return stack_launcher(tmp_path_factory.mktemp("timeouts") / "state", env=env)


def _connect(stack: LocalStack) -> socket.socket:
    address = urlsplit(stack.url)
    connection = socket.create_connection((address.hostname or "127.0.0.1", address.port or 80), timeout=30)
    return connection


def _closed_after(connection: socket.socket, since: float) -> float:
    """Seconds from ``since`` until the server closes the connection (reads until end of stream)."""
    connection.settimeout(READ_TIMEOUT + IDLE_TIMEOUT + 30)
    try:
        while connection.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - since


def _response(connection: socket.socket) -> bytes:
    """One whole HTTP response off the connection (its headers, then Content-Length bytes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        assert chunk, data
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = connection.recv(65536)
        assert chunk, data
        body += chunk
    assert len(body) == length
    return head + b"\r\n\r\n" + body


HALF_HEADERS = b"POST /v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
HALF_BODY = b'POST /v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{"events": ['


def test_half_requests_are_closed_at_the_read_timeout_and_hold_up_no_one(timed_stack: LocalStack) -> None:
    started = time.monotonic()
    half = [_connect(timed_stack) for _ in range(11)]
    for number, connection in enumerate(half):
        connection.sendall(HALF_HEADERS if number % 2 else HALF_BODY)
    # While all 11 wait, other requests are answered at once.
    for _ in range(3):
        answered = requests.get(f"{timed_stack.url}/v1/health", timeout=10)
        assert answered.status_code == 200, answered.text
    assert time.monotonic() - started < READ_TIMEOUT  # still within the half requests' time
    closed = [0.0] * len(half)

    def watch(index: int) -> None:
        closed[index] = _closed_after(half[index], started)

    watchers = [threading.Thread(target=watch, args=(i,)) for i in range(len(half))]
    for watcher in watchers:
        watcher.start()
    for watcher in watchers:
        watcher.join()
    for connection in half:
        connection.close()
    assert all(READ_TIMEOUT - 0.2 <= seconds <= READ_TIMEOUT + SLACK for seconds in closed), closed


def test_a_request_sent_a_byte_at_a_time_gets_no_more_time(timed_stack: LocalStack) -> None:
    connection = _connect(timed_stack)
    started = time.monotonic()
    request = HALF_HEADERS * 20
    try:
        for byte in request:
            connection.sendall(bytes([byte]))
            time.sleep(0.25)
            if time.monotonic() - started > READ_TIMEOUT + SLACK:
                break
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed under our feet: what this test wants
    assert _closed_after(connection, started) <= READ_TIMEOUT + SLACK
    connection.close()


def test_a_silent_or_idle_connection_is_closed_at_the_idle_timeout(timed_stack: LocalStack) -> None:
    silent = _connect(timed_stack)
    started = time.monotonic()
    kept = _connect(timed_stack)
    kept.sendall(b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
    answer = _response(kept)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    answered = time.monotonic()
    # A keep-alive connection is kept between requests (up to the idle timeout), then closed.
    assert IDLE_TIMEOUT - 0.2 <= _closed_after(kept, answered) <= IDLE_TIMEOUT + SLACK
    assert IDLE_TIMEOUT - 0.2 <= _closed_after(silent, started) <= IDLE_TIMEOUT + SLACK
    silent.close()
    kept.close()


def test_a_whole_request_within_the_timeouts_is_served_on_a_kept_connection(timed_stack: LocalStack) -> None:
    connection = _connect(timed_stack)
    request = b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n"
    for _ in range(3):
        connection.sendall(request[:10])
        time.sleep(READ_TIMEOUT / 3)  # slow, but whole within the read timeout
        connection.sendall(request[10:])
        answer = _response(connection)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        time.sleep(IDLE_TIMEOUT / 2)  # idle between requests, within the idle timeout
    connection.close()
