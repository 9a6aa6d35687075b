"""Database engine, declarative base and the per-command transaction helper.

SQLite is the embedded default (WAL, foreign keys, ``BEGIN IMMEDIATE`` so concurrent writers queue on the
database lock instead of failing mid-transaction); PostgreSQL is the at-scale path. The same URL is given
to Alembic (sync driver) and to the app (async driver).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, MetaData, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on both backends (SQLite stores naive UTC; we re-attach UTC on the way out)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


class IdMixin:
    id: Mapped[int] = mapped_column(Integer, primary_key=True)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class EnteMixin:
    """Every record belongs to an ente (tenant); services always filter on it."""

    ente_id: Mapped[int] = mapped_column(ForeignKey("entes.id", ondelete="CASCADE"), index=True)


def sync_url(url: str) -> str:
    """URL for Alembic and other sync tools."""
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+aiosqlite", "sqlite+pysqlite"):
        return str(u.set(drivername="sqlite"))
    if u.drivername.startswith("postgresql"):
        return u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def async_url(url: str) -> str:
    u = make_url(url)
    if u.drivername.startswith("sqlite"):
        return str(u.set(drivername="sqlite+aiosqlite"))
    if u.drivername.startswith("postgresql"):
        return u.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    return url


def is_sqlite(url: str) -> bool:
    return make_url(url).drivername.startswith("sqlite")


def ensure_sqlite_dir(url: str) -> None:
    u = make_url(url)
    if u.drivername.startswith("sqlite") and u.database and u.database != ":memory:":
        from pathlib import Path

        Path(u.database).parent.mkdir(parents=True, exist_ok=True)


# An erased citizen's words must not stay in the file: SQLite keeps a deleted or rewritten row's old bytes in the
# page (and a freed page whole) unless secure_delete zeroes them, and the WAL keeps old page images until it is
# reset; a reset WAL is cut back to nothing (journal_size_limit), so after an erasure's checkpoint
# (``checkpoint_sqlite``) the next write leaves no copy behind. Test: tests/channels/test_erasure_scan.py
def zero_what_is_deleted(dbapi_connection: Any, _record: Any = None) -> None:
    """``secure_delete`` and ``journal_size_limit=0`` on a SQLite connection: the CRM's own, and the tracker purge's
    (a "connect" listener, as here)."""
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA secure_delete=ON")
    cur.execute("PRAGMA journal_size_limit=0")
    cur.close()


async def checkpoint_sqlite(engine: AsyncEngine, attempts: int = 100) -> bool:
    """Copy the WAL into the database file now, without making anyone wait (PASSIVE). A reader still on an older
    snapshot holds part of it back, so it is tried again for up to 5 s (an erasure is rare, and only its caller
    waits). Once every frame is copied, the next write resets and empties the WAL. Returns whether every frame was
    copied (PostgreSQL: nothing to do, True)."""
    if engine.dialect.name != "sqlite":
        return True
    for attempt in range(attempts):
        async with engine.connect() as conn:
            # on the driver's connection: through SQLAlchemy the pragma would run inside our BEGIN, where SQLite
            # refuses a checkpoint ("database table is locked")
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            cursor = await driver.execute("PRAGMA wal_checkpoint(PASSIVE)")
            _busy, frames, copied = await cursor.fetchone()
            await cursor.close()
            if frames == copied:
                await _truncate_wal(driver)
                return True
        if attempt < attempts - 1:
            await asyncio.sleep(0.05)
    return False


async def _truncate_wal(driver: Any) -> None:
    """Every frame is in the database file: empty the WAL file now. The next write resets the WAL only when no reader
    is on an older snapshot at that moment; otherwise it appends, and the old frames (an erased citizen's rows) stay
    until a later complete checkpoint (a clean-clone CI found them there once). TRUNCATE waits for such readers, here
    at most half a second, holding the write lock meanwhile; if one still reads, the WAL is left to the next write."""
    cursor = await driver.execute("PRAGMA busy_timeout")
    (timeout_ms,) = await cursor.fetchone()
    await cursor.close()
    try:
        await (await driver.execute("PRAGMA busy_timeout=500")).close()
        await (await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")).close()
    except Exception:  # noqa: BLE001 - a reader kept it busy: the next write resets the WAL instead
        log.info("the WAL could not be emptied at once; the next write resets it")
    finally:
        await (await driver.execute(f"PRAGMA busy_timeout={int(timeout_ms)}")).close()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    from crm.sqlite_onehop import install

    install(dbapi_connection)  # each statement one trip to aiosqlite's thread, not four (crm/sqlite_onehop.py)
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see _sqlite_begin)
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()
    zero_what_is_deleted(dbapi_connection)


def _sqlite_begin(conn: Any) -> None:
    # writers take the lock up front (no failed lock upgrades mid-transaction); read-only sessions say so
    mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
    conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, **kw: Any) -> AsyncEngine:
    """The engine for ``url``. The caller has loaded every module's models first (``crm.registry.load_models``)."""
    ensure_sqlite_dir(url)
    if is_sqlite(url):
        engine = create_async_engine(async_url(url), pool_size=20, max_overflow=30, pool_timeout=60, **kw)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        event.listen(engine.sync_engine.pool, "invalidate", _sqlite_end_transaction)
        return engine
    return create_async_engine(async_url(url), pool_size=10, max_overflow=30, pool_timeout=60, pool_pre_ping=True, **kw)


def _sqlite_end_transaction(dbapi_connection: Any, record: Any, exc: BaseException | None) -> None:
    """Roll back a connection SQLAlchemy is about to throw away (a statement was cut by a cancellation).

    A SELECT cut half-way leaves its cursor open (SQLAlchemy's aiosqlite adapter drops it unclosed); closing the
    connection then only makes it a zombie that keeps the open transaction, and SQLite's write lock, until the
    garbage collector frees that cursor, and every other writer fails with "database is locked". A rollback first
    ends the transaction (SQLite aborts the pending read), so the lock goes with the connection."""
    from sqlalchemy.util.concurrency import in_greenlet

    if not in_greenlet():  # the garbage collector's clean-up: nothing left to wait for
        return
    try:
        dbapi_connection.await_(asyncio.shield(dbapi_connection._connection.rollback()))
    except BaseException:  # noqa: BLE001 - best effort (also a second cancellation): SQLAlchemy's close follows
        log.debug("rollback before discarding a SQLite connection failed", exc_info=True)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def make_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """For look-ups that never write (auth, health): on SQLite they do not queue behind writers."""
    return async_sessionmaker(engine.execution_options(sqlite_begin="DEFERRED"), expire_on_commit=False)


def reading(maker: async_sessionmaker[AsyncSession]) -> AsyncSession:
    """A session on ``maker``'s database that only reads. A job polling for work looks with this and opens its write
    transaction only when it found some: a session of the writing maker begins IMMEDIATE on SQLite, so an idle poll
    held the one write lock (up to 0.7 s at start-up, while the knowledge base's index was built on the same loop)."""
    bind = maker.kw.get("bind")
    if bind is None or bind.dialect.name != "sqlite":
        return maker()
    return AsyncSession(bind.execution_options(sqlite_begin="DEFERRED"), expire_on_commit=False)


_WRITE_LOCKS: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def _sqlite_turn(engine: Any) -> AsyncIterator[None]:
    """SQLite has one writer at a time; letting twenty connections poll its lock starves most of them (the busy
    handler sleeps up to 100 ms between tries). Writers of this process queue here instead, first come first served,
    and meet SQLite's lock one at a time. PostgreSQL needs none of this."""
    if engine is None or engine.dialect.name != "sqlite":
        yield
        return
    lock = _WRITE_LOCKS.setdefault(engine.sync_engine, asyncio.Lock())
    await lock.acquire()
    try:
        yield
    finally:
        lock.release()


def write_turn(maker: async_sessionmaker[AsyncSession]) -> Any:
    """``async with write_turn(maker), maker() as s:`` for the rare writer that commits by hand (logins keep the
    failure counter even when they fail): it still queues with this process's other writers on SQLite."""
    return _sqlite_turn(maker.kw.get("bind"))


@asynccontextmanager
async def transaction(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction per command: commit on success, roll back on any error (nothing half-written).

    The commit, the rollback and the connection's return to the pool run to their end even when the caller is
    cancelled (a client hung up): cut half-way, an aiosqlite connection was orphaned still holding SQLite's write
    lock, and every later writer waited the busy timeout and failed."""
    from crm.tasks import uncancellable

    bind = maker.kw.get("bind")
    async with _sqlite_turn(bind):
        started = time.perf_counter()
        session = maker()
        try:
            await session.begin()
            yield session
            await uncancellable(session.commit())
        except BaseException:
            await uncancellable(_rollback(session))
            raise
        finally:
            await uncancellable(session.close())
            if bind is not None and bind.dialect.name == "sqlite":
                WRITE_HOLDS.add((time.perf_counter() - started) * 1000)


class _Holds:
    """How long this process's SQLite write transactions held the database (ms): every other writer waits that long.
    Shown on /health (``database.write_hold_ms``); background work must keep each one short (≤ 100 ms)."""

    def __init__(self) -> None:
        from collections import deque

        self.samples: deque[float] = deque(maxlen=5000)
        self.over_100ms = 0
        self.max_ms = 0.0

    def add(self, ms: float) -> None:
        self.samples.append(ms)
        self.max_ms = max(self.max_ms, ms)
        self.over_100ms += ms > 100

    def summary(self) -> dict[str, float | int]:
        v = sorted(self.samples)
        if not v:
            return {}
        return {
            "n": len(v),
            "p50": round(v[len(v) // 2], 1),
            "p95": round(v[int(len(v) * 0.95)], 1),
            "max": round(self.max_ms, 1),
            "over_100ms": self.over_100ms,
        }


WRITE_HOLDS = _Holds()


async def _rollback(session: AsyncSession) -> None:
    try:
        await session.rollback()
    except Exception:  # noqa: BLE001 - a connection broken mid-query: close() below invalidates it
        import logging

        logging.getLogger("urp.db").warning("rollback failed; the connection is discarded", exc_info=True)


@asynccontextmanager
async def read_session(request: Any) -> AsyncIterator[AsyncSession]:
    """``async with read_session(request) as session:`` for handlers that only read: on SQLite they neither queue
    behind this process's writers nor take the write lock."""
    async with request.app.ctx.read_sessionmaker() as session:
        async with session.begin():
            yield session


def db_session(request: Any) -> Any:
    """``async with db_session(request) as session:`` inside a route handler."""
    return transaction(request.app.ctx.sessionmaker)
