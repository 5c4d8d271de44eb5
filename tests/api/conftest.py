"""Reports what the fuzzer ran (``test_fuzz``), at the end of the session."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.api import test_fuzz

    if test_fuzz.CASES["cases"]:
        terminalreporter.write_line(
            f"schemathesis: {test_fuzz.CASES['cases']} cases sent, {test_fuzz.CASES['requests']} requests"
            f" ({test_fuzz.BUDGET.skipped} generated past an operation's time budget, not sent)"
        )
