"""The action server (`python -m actions`) is one process that SIGTERM stops cleanly.

Under ``python -m rasa_sdk`` Sanic's worker manager ran the app in a child process; on SIGTERM the manager sometimes
died with ``AttributeError: 'NoneType' object has no attribute 'get'`` in ``_sync_states`` (a CI run failed on it),
and a killed manager could leave its worker serving. No Rasa, no CRM: the server starts without either."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.bot.action_server import start_action_server
from tests.conftest import free_port, wait_http


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


@contextmanager
def _server(port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = start_action_server(port, log)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_action_server_is_one_process_that_sigterm_stops_cleanly(tmp_path: Path) -> None:
    stops = []
    for run in range(3):
        port, log = free_port(), tmp_path / f"actions-{run}.log"
        with _server(port, log) as proc:
            wait_http(f"http://127.0.0.1:{port}/health", timeout=60, proc=proc)
            names = {a["name"] for a in httpx.get(f"http://127.0.0.1:{port}/actions", timeout=10).json()}
            assert {"action_answer_info", "action_default_fallback"} <= names, sorted(names)
            assert _children(proc.pid) == [], "the action server started child processes"
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=20)
            stops.append(round(time.monotonic() - started, 2))
        text = log.read_text(errors="replace")
        assert code == 0, text[-3000:]
        assert "Traceback" not in text and "Error" not in text, text[-3000:]
    print(f"\naction server: 3 starts and SIGTERM stops, exit 0, seconds to stop: {stops}")


def test_a_second_action_server_on_a_busy_port_stops_at_once_saying_so(tmp_path: Path) -> None:
    port = free_port()
    with _server(port, tmp_path / "first.log") as first:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=60, proc=first)
        with _server(port, tmp_path / "second.log") as second:
            code = second.wait(timeout=60)
        assert code != 0
        assert "already in use" in (tmp_path / "second.log").read_text()
        assert first.poll() is None and httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200
