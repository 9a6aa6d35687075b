"""The security suite prints its counts at the end of every run (``make test`` included), not only with ``-s``."""

from __future__ import annotations

from typing import Any

from tests.security.scan import SUMMARY


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SUMMARY:
        terminalreporter.section("security suite")
        for line in SUMMARY:
            terminalreporter.write_line(line)
