"""The whole conversation stack for channel tests: fake Twilio and Telegram, the real action server, the real Rasa
server with the trained model, and a CRM server configured with both channels. Rasa needs .venv-rasa and a model
(`make train`); without them these tests skip, unless URP_REQUIRE_RASA=1 (CI) makes that a failure."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.channels.fakes import FakeTelegram, FakeTwilio
from tests.conftest import ROOT, Server, free_port, make_ente, start_server, wait_http

TWILIO_SID = "AC" + "1" * 32
TWILIO_TOKEN = "twilio-test-auth-token"
TWILIO_FROM = "+390761000000"
TG_TOKEN = "123456:TEST-telegram-token"
TG_SECRET = "telegram-webhook-secret-123"


@dataclass
class Stack:
    crm: Server
    rasa_url: str | None
    twilio: FakeTwilio
    telegram: FakeTelegram
    ente: object

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.crm.url, timeout=60)


def fakes_env(twilio: FakeTwilio, telegram: FakeTelegram) -> dict[str, str]:
    """A CRM's Twilio and Telegram settings pointing at the fake servers."""
    return {
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_FROM_NUMBER": TWILIO_FROM,
        "TWILIO_API_BASE": twilio.url,
        "TELEGRAM_BOT_TOKEN": TG_TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
        "TELEGRAM_API_BASE": telegram.url + "/bot",
    }


def rasa_available() -> bool:
    return (ROOT / ".venv-rasa" / "bin" / "rasa").exists() and any((ROOT / "models").glob("*.tar.gz"))


def _stop(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def start_actions(
    env: dict[str, str], crm_url: str, port: int, log: IO[bytes], wait: bool = True
) -> subprocess.Popen[bytes]:
    """The action server on ``port``, calling the CRM at ``crm_url``; returns once its /health answers (``wait``)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "actions", "--port", str(port)],
        env={**env, "URP_CRM_URL": crm_url},
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    if wait:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=60, proc=proc)
    return proc


def rasa_env(rasa_port: int, actions_port: int, tracker_db: Path, database_url: str = "") -> dict[str, str]:
    """Rasa's environment (scripts/rasa_run.sh): its trackers in SQLite at ``tracker_db``, or, for a PostgreSQL
    ``database_url`` (the at-scale path), in that database with its lock store in Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("URP_")}
    env.update(
        RASA_PORT=str(rasa_port),
        URP_ACTIONS_URL=f"http://127.0.0.1:{actions_port}/webhook",
        RASA_TRACKER_URL=f"sqlite:///{tracker_db}",
    )
    if database_url.startswith("postgresql"):
        env.update(
            RASA_TRACKER_URL=database_url,
            RASA_LOCK_STORE="redis",
            RASA_LOCK_HOST="127.0.0.1",
            RASA_LOCK_PORT="6379",
            # the database of the test Redis URL: a second run sharing the server (a worktree) has its own locks
            RASA_LOCK_DB=os.environ.get("URP_TEST_REDIS_URL", "redis://127.0.0.1:6379/1").rsplit("/", 1)[-1] or "1",
        )
    return env


def start_rasa(env: dict[str, str], log: IO[bytes], wait: bool = True) -> subprocess.Popen[bytes]:
    """Rasa (scripts/rasa_run.sh) with ``env`` from ``rasa_env``; returns once it answers (``wait``), its model loaded
    (minutes on a busy machine)."""
    proc = subprocess.Popen(["bash", "scripts/rasa_run.sh"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if wait:
        wait_http(f"http://127.0.0.1:{env['RASA_PORT']}/", timeout=600, proc=proc)
    return proc


def _start_bot(env: dict[str, str], crm_port: int, logs: Path, database_url: str) -> tuple[list, str]:  # type: ignore[type-arg]
    actions_port, rasa_port = free_port(), free_port()
    crm_url = f"http://127.0.0.1:{crm_port}"
    r_env = rasa_env(rasa_port, actions_port, logs / "tracker.db", database_url)
    # both start at once; then each is waited for
    procs = [
        start_actions(env, crm_url, actions_port, open(logs / "actions.log", "wb"), wait=False),
        start_rasa(r_env, open(logs / "rasa.log", "wb"), wait=False),
    ]
    env["URP_ACTIONS_URL"] = r_env["URP_ACTIONS_URL"]  # the CRM's /health probes the action server too
    wait_http(f"http://127.0.0.1:{actions_port}/health", timeout=60, proc=procs[0])
    try:
        wait_http(f"http://127.0.0.1:{rasa_port}/", timeout=600, proc=procs[1])  # loading the model: minutes
    except RuntimeError:
        for p in procs:
            _stop(p)
        raise RuntimeError("rasa did not start:\n" + (logs / "rasa.log").read_text()[-3000:]) from None
    return procs, f"http://127.0.0.1:{rasa_port}"


@pytest.fixture(scope="session")
def stack(base_env: dict[str, str], db, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from crm.entes import service as entes

    async def existing(s):  # type: ignore[no-untyped-def]
        return await entes.get_by_slug(s, base_env["URP_DEFAULT_ENTE"])

    ente = None if db.run(existing) else make_ente(db, slug=base_env["URP_DEFAULT_ENTE"])
    if ente is None:
        pytest.fail("default test ente exists already; the stack fixture must create it once")
    twilio, telegram = FakeTwilio(), FakeTelegram()
    logs = tmp_path_factory.mktemp("stack")
    crm_port = free_port()
    # its scheduler serves only its own ente: other tests' notifications in the same database are theirs to send
    env = {
        **base_env,
        "URP_PUBLIC_URL": f"http://127.0.0.1:{crm_port}",
        "URP_SCHEDULER": "true",
        "URP_SCHEDULER_ENTES": base_env["URP_DEFAULT_ENTE"],
        "URP_SCHEDULER_INTERVAL_SECONDS": "0.5",
        **fakes_env(twilio, telegram),
    }
    # where Rasa keeps its trackers (what _start_bot gives it): the CRM erases citizens' events there
    env["URP_RASA_TRACKER_URL"] = (
        database_url if database_url.startswith("postgresql") else f"sqlite:///{logs / 'tracker.db'}"
    )
    procs: list = []  # type: ignore[type-arg]
    rasa_url = None
    if rasa_available():
        procs, rasa_url = _start_bot(env, crm_port, logs, database_url)
        env["URP_RASA_URL"] = rasa_url
    elif os.environ.get("URP_REQUIRE_RASA") == "1":
        pytest.fail("Rasa is required (URP_REQUIRE_RASA=1) but .venv-rasa or a trained model is missing")
    else:
        env["URP_RASA_URL"] = f"http://127.0.0.1:{free_port()}"  # nobody listens: the 'Rasa down' path
    crm = start_server(env, logs / "crm.log", port=crm_port)
    yield Stack(crm=crm, rasa_url=rasa_url, twilio=twilio, telegram=telegram, ente=ente)
    _stop(crm.proc)
    for p in procs:
        _stop(p)
    twilio.close()
    telegram.close()


@pytest.fixture
def needs_rasa(stack: Stack) -> None:
    if stack.rasa_url is None:
        pytest.skip("Rasa not installed or no trained model (run `make train`)")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures can react to a failure (the browser's screenshot)."""
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The cancellation sweep's counts (await points cut, messages retried), printed at the end of the run."""
    import json
    import sys

    module = sys.modules.get("tests.channels.test_cancellation")
    counts = getattr(module, "COUNTS", None)
    if counts:
        terminalreporter.section("cancellation sweep counts")
        for name, c in counts.items():
            terminalreporter.write_line(f"{name}: {json.dumps(c)}")
