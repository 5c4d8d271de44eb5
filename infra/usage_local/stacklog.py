"""The local stack's log: one stream (stdout by default) where every line says which part wrote it."""

from __future__ import annotations

import sys
import threading
from typing import IO

_lock = threading.Lock()


def log(source: str, message: str, to: IO[str] | None = None) -> None:
    """Write ``message`` (any number of lines) prefixed with ``[source]``."""
    stream = to or sys.stdout
    lines = message.rstrip("\n").split("\n")
    with _lock:
        for line in lines:
            stream.write(f"[{source}] {line}\n")
        stream.flush()


def pump(source: str, stream: IO[bytes], to: IO[str] | None = None) -> None:
    """Copy a child's output into the log, line by line, until it closes (run in a thread)."""
    for raw in iter(stream.readline, b""):
        log(source, raw.decode("utf-8", "replace"), to)
    stream.close()
