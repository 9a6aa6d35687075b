"""Shared fixtures: a real database (SQLite file or PostgreSQL), a real `urp serve` process, a fresh ente per test.

URP_TEST_DATABASE_URL picks the database (default: a temporary SQLite file). The PostgreSQL database is wiped
(schema dropped) at the start of the session, so point it at a database reserved for tests.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest
from stdnum.it import codicefiscale

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")
SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
SERVICE_TOKEN = "test-service-token"
ACTIONS_SECRET = "test-actions-secret-0123456789-abcdefghijklmnop"  # the hub signs each turn for the action server
_counter = itertools.count()


def on_postgres() -> bool:
    return (os.environ.get("URP_TEST_DATABASE_URL") or "").startswith("postgresql")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostgreSQL pass runs what the database can change. Tests marked ``db_independent`` (no database at all)
    and tests that drive Chromium run once, in the SQLite pass: the pages are the same HTML whichever database
    serves them, and every console route they use is also driven on PostgreSQL by the parity suite (tests/parity).
    This halves the PostgreSQL pass, which runs beside the SQLite one (scripts/test.sh)."""
    if not on_postgres():
        return
    keep, drop = [], []
    for item in items:
        browser = {"browser", "browser_pages"} & set(getattr(item, "fixturenames", ()))
        (drop if item.get_closest_marker("db_independent") or browser else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout}s")


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    from crm.db import sync_url

    engine = create_engine(sync_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("URP_TEST_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'urp_test.db'}"
    if url.startswith("postgresql"):
        _reset_postgres(url)
    from crm.migrations import upgrade

    upgrade(url)
    return url


@pytest.fixture(scope="session")
def base_env(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("URP_")}
    env.update(
        URP_ENV="test",
        URP_DATABASE_URL=database_url,
        URP_SECRET_KEY=SECRET,
        URP_SERVICE_TOKEN=SERVICE_TOKEN,
        URP_ACTIONS_SECRET=ACTIONS_SECRET,
        URP_SCHEDULER="false",
        # the turns a server takes from the shared queue (handed back at a shutdown, left by a killed worker): only
        # the per-test entes (`make_ente`'s "ente-..." slugs); a server given an ente of its own (the channels
        # stack, the desks, parity) serves only that one, so no server answers another's citizens with its Rasa
        URP_SCHEDULER_ENTES="ente-*",
        URP_KB_WARM_UP="false",  # tests create many enti: indexes open when a test searches
        URP_VAR_DIR=str(tmp_path_factory.mktemp("var")),
        URP_DEFAULT_ENTE="test-default",
        URP_RASA_URL=f"http://127.0.0.1:{free_port()}",  # no Rasa unless a test starts one
        # every test signs in from 127.0.0.1: the per-address sign-in throttle would couple unrelated tests (the
        # security tests check it on a server of their own); X-Forwarded-For lets tests act from other addresses
        URP_LOGIN_MAX_FAILURES_ADDRESS="100000",
        URP_PROXIES_COUNT="1",
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    env: dict[str, str]


def start_server(env: dict[str, str], log_path: Path, port: int | None = None, timeout: float = 60) -> Server:
    port = port or free_port()
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "crm.cli", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/health", timeout=timeout, proc=proc)
    except RuntimeError:
        proc.kill()
        raise RuntimeError(f"server failed to start; log:\n{log_path.read_text()[-4000:]}") from None
    return Server(url=url, proc=proc, env=env)


@pytest.fixture(scope="session")
def server(base_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(base_env, tmp_path_factory.mktemp("logs") / "server.log")
    yield srv
    srv.proc.terminate()
    try:
        srv.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        srv.proc.kill()


@pytest.fixture(scope="session")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def _run_in_thread(coro_fn: Callable[[], Awaitable[T]]) -> T:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro_fn()).result()  # type: ignore[arg-type]


@dataclass
class DB:
    """Direct access to the test database through our own service layer (setup and checks, never mocks)."""

    url: str

    def run(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``work(session)`` in one committed transaction."""

        async def go() -> T:
            from crm.db import make_engine, make_sessionmaker, transaction
            from crm.registry import load_models

            load_models()
            engine = make_engine(self.url)
            try:
                async with transaction(make_sessionmaker(engine)) as s:
                    return await work(s)
            finally:
                await engine.dispose()

        return _run_in_thread(go)

    def call(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``fn(sessionmaker)`` (for code that opens its own transactions, e.g. the outbox dispatcher)."""

        async def go() -> T:
            from crm.db import make_engine, make_sessionmaker
            from crm.registry import load_models

            load_models()
            engine = make_engine(self.url)
            try:
                return await fn(make_sessionmaker(engine))
            finally:
                await engine.dispose()

        return _run_in_thread(go)


@pytest.fixture(scope="session")
def db(database_url: str) -> DB:
    return DB(database_url)


@dataclass
class EnteCtx:
    ente_id: int
    slug: str
    tokens: dict[str, str]
    operator_ids: dict[str, int]
    usernames: dict[str, str]
    topics: dict[str, int]
    offices: dict[str, int]
    service_token: str
    passwords: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        """who: admin | operator | operator2 | phone_operator | backoffice | service"""
        token = self.service_token if who == "service" else self.tokens[who]
        return {"Authorization": f"Bearer {token}"}


PASSWORD = "password-di-prova-123"
URP_PHONE = "0761 000111"  # every test ente's URP office: what the assistant quotes (GET /api/v1/desk)
PATRON_DAY = "06-29"  # every test ente's patron saint's day: a holiday for its offices


def is_test_holiday(d: date) -> bool:
    """A holiday for the test entes' offices (the national ones and the patron's day), by the booking centre's rule."""
    from crm.core.workhours import is_holiday, parse_patron_day

    return is_holiday(d, parse_patron_day(PATRON_DAY))


def working_days(after_days: int, run: int = 1) -> date:
    """The first day at least ``after_days`` from today (Rome) that starts ``run`` days in a row none of which is a
    holiday for the test entes: a test that expects slots on a given day must not fall on 8 December."""
    d = datetime.now(ZoneInfo("Europe/Rome")).date() + timedelta(days=after_days)
    while any(is_test_holiday(d + timedelta(days=i)) for i in range(run)):
        d += timedelta(days=1)
    return d


@pytest.fixture
def ente_ctx(db: DB) -> EnteCtx:
    """A brand-new ente with two offices, three topics, one operator per role and a service token."""
    return make_ente(db)


@pytest.fixture
def other_ente(db: DB) -> EnteCtx:
    """A second, unrelated ente, for isolation tests."""
    return make_ente(db)


def make_ente(db: DB, slug: str | None = None) -> EnteCtx:
    ente_slug = slug
    from crm.entes import service as entes
    from crm.offices import service as offices
    from crm.offices.schemas import OfficeIn, TopicIn
    from crm.operators import service as operators
    from crm.operators.schemas import OperatorIn

    n = f"{os.getpid()}-{next(_counter)}-{time.time_ns() % 10**6}"

    async def work(s: Any) -> EnteCtx:
        ente = await entes.create(s, slug=ente_slug or f"ente-{n}", name=f"Comune di Prova {n}", patron_day=PATRON_DAY)
        urp = await offices.create_office(
            s, ente_id=ente.id, data=OfficeIn(code="URP", name="URP", phone=URP_PHONE, email="urp@prova.example.it")
        )
        anag = await offices.create_office(s, ente_id=ente.id, data=OfficeIn(code="ANAG", name="Anagrafe"))
        topics = {}
        for office, slug in ((urp, "urp"), (urp, "segnalazioni"), (anag, "anagrafe")):
            topics[slug] = (
                await offices.create_topic(s, ente_id=ente.id, data=TopicIn(office_id=office.id, slug=slug, name=slug))
            ).id
        ids, names, tokens = {}, {}, {}
        for who, role, tps in (
            ("admin", "admin", []),
            ("operator", "operator", ["urp", "segnalazioni"]),
            ("operator2", "operator", ["urp", "anagrafe"]),
            ("phone_operator", "phone_operator", ["urp"]),
            ("backoffice", "backoffice", ["anagrafe"]),
        ):
            username = f"{who}-{n}"
            op = await operators.create(
                s, ente_id=ente.id, data=OperatorIn(username=username, password=PASSWORD, role=role, topics=tps)
            )
            ids[who], names[who] = op.id, username
            tokens[who] = await operators.start_session(s, op, secret=SECRET, ttl_minutes=60)
        svc = await entes.create_service_token(s, ente_id=ente.id, name="tests")
        return EnteCtx(
            ente_id=ente.id,
            slug=ente.slug,
            tokens=tokens,
            operator_ids=ids,
            usernames=names,
            topics=topics,
            offices={"URP": urp.id, "ANAG": anag.id},
            service_token=svc,
            passwords={k: PASSWORD for k in ids},
        )

    return db.run(work)


VALID_CF = "RSSMRA80A01H501U"


def fresh_cf() -> str:
    """A valid codice fiscale no other test uses: tests sharing one comune (the channels stack) must not collide on
    VALID_CF, which the CRM keeps unique per comune. The name's letters stay Mario Rossi's: only the birth date and
    the check character vary, so the assistant's tests are not a lottery on the NLU (random letters are covered by
    the NLU's own examples)."""
    body = f"RSSMRA{random.randint(40, 99)}{random.choice('ABCDEHLMPRST')}{random.randint(1, 28):02d}H501"
    return body + codicefiscale.calc_check_digit(body)
