"""The fault suite's own processes: a CRM, an action server and a Rasa server of its own (killed and restarted by the
tests without disturbing the rest of the suite), the fake providers, and a dedicated ente in a database of its own
(``faults_db``). Every fault test records its counts; they are printed at the end of the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.channels.conftest import _stop, fakes_env, rasa_available, rasa_env, start_actions, start_rasa
from tests.channels.fakes import FakeTelegram, FakeTwilio
from tests.conftest import DB, free_port, make_ente, start_server

COUNTS: list[dict[str, Any]] = []


@dataclass
class FaultStack:
    env: dict[str, str]
    logs: Path
    crm_port: int
    rasa_port: int
    actions_port: int
    twilio: FakeTwilio
    telegram: FakeTelegram
    ente: Any
    db: DB
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.crm_port}"

    def start(self, name: str) -> None:
        n = self.restarts.get(name, -1) + 1
        self.restarts[name] = n
        log = open(self.logs / f"{name}.{n}.log", "wb")
        if name == "crm":
            # a restart on a loaded machine (2 cores, several suites): importing the app alone took over 60 s
            log.close()
            server = start_server(self.env, self.logs / f"crm.{n}.log", port=self.crm_port, timeout=300)
            self.procs["crm"] = server.proc
        elif name == "actions":
            self.procs["actions"] = start_actions(self.env, self.url, self.actions_port, log)
        elif name == "rasa":
            self.procs["rasa"] = start_rasa(rasa_env(self.rasa_port, self.actions_port, self.logs / "tracker.db"), log)

    def kill(self, name: str) -> None:
        """kill -9: no shutdown code runs."""
        proc = self.procs.pop(name)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None:
            _stop(proc)


def _own_postgres_database(url: str, suffix: str) -> str:
    """A new, empty PostgreSQL database beside the suite's (same server and role), dropped first if a killed run left
    it behind."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from crm.db import sync_url

    u = make_url(url)
    name = f"{u.database}{suffix}"
    engine = create_engine(sync_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return u.set(database=name).render_as_string(hide_password=False)


def _drop_postgres_database(suite_url: str, url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from crm.db import sync_url

    engine = create_engine(sync_url(suite_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def faults_db(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DB]:
    """The fault stack's own database (PostgreSQL: `<suite's database>_faults`, created and dropped here; SQLite: a
    file of its own). The suite's other servers share theirs and take the turns they find queued or abandoned; the
    faults hand turns back and abandon them on purpose, and only the fault stack may take them again."""
    from crm.migrations import upgrade

    if database_url.startswith("postgresql"):
        url = _own_postgres_database(database_url, "_faults")
        try:
            upgrade(url)
            yield DB(url)
        finally:
            _drop_postgres_database(database_url, url)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('faults-db') / 'faults.db'}"
        upgrade(url)
        yield DB(url)


@pytest.fixture(scope="session")
def faults(base_env: dict[str, str], faults_db: DB, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    db = faults_db
    if not rasa_available():
        if os.environ.get("URP_REQUIRE_RASA") == "1":
            pytest.fail("the fault suite needs Rasa (URP_REQUIRE_RASA=1) but .venv-rasa or a model is missing")
        pytest.skip("Rasa not installed or no trained model (run `make train`)")
    slug = f"faults-{os.getpid()}"
    ente = make_ente(db, slug=slug)
    twilio, telegram = FakeTwilio(), FakeTelegram()
    crm_port, rasa_port, actions_port = free_port(), free_port(), free_port()
    env = {
        **base_env,
        "URP_DATABASE_URL": db.url,
        "URP_VAR_DIR": str(tmp_path_factory.mktemp("faults-var")),  # its KB indexes and files: ente ids start over
        "URP_DEFAULT_ENTE": slug,
        "URP_PUBLIC_URL": f"http://127.0.0.1:{crm_port}",
        "URP_SCHEDULER": "true",
        "URP_SCHEDULER_ENTES": slug,
        "URP_SCHEDULER_INTERVAL_SECONDS": "0.5",
        "URP_RASA_URL": f"http://127.0.0.1:{rasa_port}",
        "URP_ACTIONS_URL": f"http://127.0.0.1:{actions_port}/webhook",
        **fakes_env(twilio, telegram),
    }
    stack = FaultStack(
        env=env,
        logs=tmp_path_factory.mktemp("faults"),
        crm_port=crm_port,
        rasa_port=rasa_port,
        actions_port=actions_port,
        twilio=twilio,
        telegram=telegram,
        ente=ente,
        db=db,
    )
    try:
        stack.start("actions")
        stack.start("rasa")
        stack.start("crm")
        yield stack
    finally:
        for name in list(stack.procs):
            stack.stop(name)
        twilio.close()
        telegram.close()


def record(name: str, **counts: Any) -> None:
    COUNTS.append({"fault": name, **counts})


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if COUNTS:
        terminalreporter.section("fault suite counts")
        for c in COUNTS:
            terminalreporter.write_line(json.dumps(c, ensure_ascii=False))


def health(stack: FaultStack) -> dict[str, Any]:
    return httpx.get(stack.url + "/health", timeout=10).json()


def wait_until(predicate: Any, timeout: float = 60, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)
