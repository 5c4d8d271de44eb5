"""Fault points the tests switch on (``LICENSE_USAGE_FAULTS=name,name``): the function fails
there as a crash would, so that what a retry recovers can be checked. Off unless set."""

from __future__ import annotations

import os


class InjectedFault(RuntimeError):
    """A failure a test asked for."""


def fault_point(name: str) -> None:
    if name in os.environ.get("LICENSE_USAGE_FAULTS", "").split(","):
        raise InjectedFault(f"fault injected at {name}")
