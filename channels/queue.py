"""The durable per-conversation turn queue: rows with a state and a lease, in the CRM's own database.

- A stored inbound message that the assistant has to answer is a ``turns`` row, written in the same transaction as
  the message: acknowledged means stored means queued.
- Per conversation, one turn at a time and in arrival order: a turn is taken only when it is the oldest unfinished
  turn of its conversation. When no other turn of the conversation is unfinished, the process that stored the
  message takes it at once (no polling delay); when one finishes, its worker takes the next one of the same
  conversation in the same transaction.
- Any replica can take any turn: on PostgreSQL the poll reads candidates ``FOR UPDATE SKIP LOCKED``; on SQLite the
  writers queue on the database lock. Every claim is a compare-and-set on the row, so two workers never run the same
  turn, and the accept and the finish of a conversation lock its row, so they never race.
- A running turn's lease is renewed by its worker; after a crash (kill -9) it runs out and the turn is taken again,
  by another replica or the restarted process. At shutdown, turns still running after the grace period are handed
  back (queued again) so the next process takes them at once.

Why our own and not a library (README, "Dependencies and why"): procrastinate (the kept PostgreSQL queue, with
per-lock sequential jobs) runs on PostgreSQL only, through its own psycopg connection and schema, so a turn could not
be enqueued in the transaction that stores the message, and the embedded SQLite install would still need a second
queue; huey, arq, saq, dramatiq and taskiq need Redis or a broker, or have no per-key ordering. The queue here is two
statements on a table we already migrate, the same on both databases.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Result, and_, bindparam, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from channels.models import TurnJob
from crm.contacts.models import ContactIdentity, ContactPhone
from crm.conversations.models import Conversation, Message
from crm.db import reading, transaction, utcnow
from crm.scheduler import served_ente_ids
from crm.tasks import Background, uncancellable

log = logging.getLogger("urp.turns")
UNFINISHED = ("queued", "running")


@dataclass
class TurnCtx:
    """Everything a worker needs to answer one message, read once when the turn is taken."""

    turn_id: int
    ente_id: int
    conversation_id: int
    contact_id: int
    message_id: int
    channel: str
    address: str | None
    text: str
    payload: dict[str, Any]
    mode: str
    created_at: datetime
    attempts: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


def percentiles(values: Iterable[float]) -> dict[str, Any] | None:
    """n, p50, p95 and max of a window of timings in ms (for /health), None when there is none yet."""
    v = sorted(values)
    if not v:
        return None
    return {
        "n": len(v),
        "p50_ms": round(v[len(v) // 2], 2),
        "p95_ms": round(v[min(len(v) - 1, int(len(v) * 0.95))], 2),
        "max_ms": round(v[-1], 2),
    }


def rowcount(r: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched: its result is a CursorResult, which AsyncSession.execute's annotation
    (``Result``) does not say."""
    return cast(CursorResult[Any], r).rowcount


# what every turn runs, built once (building a statement cost as much CPU as running it on SQLite)
_BUSY = (
    select(TurnJob.id)
    .where(TurnJob.conversation_id == bindparam("conversation_id"), TurnJob.state.in_(UNFINISHED))
    .limit(1)
)
_DONE = (
    update(TurnJob)
    .where(TurnJob.id == bindparam("b_turn_id"), TurnJob.owner == bindparam("b_owner"), TurnJob.state == "running")
    .values(state="done", outcome=bindparam("b_outcome"), finished_at=bindparam("b_now"), lease_until=None)
    .execution_options(synchronize_session=False)  # a bulk statement: no loaded turn to keep in step
)
_NEXT = (
    select(TurnJob.id)
    .where(TurnJob.conversation_id == bindparam("conversation_id"), TurnJob.state == "queued")
    .order_by(TurnJob.id)
    .limit(1)
)


class LeaseLost(Exception):
    """Another worker took this turn (ours ran past its lease): its outcome is theirs to record."""


async def lock_conversation(s: AsyncSession, conversation_id: int) -> None:
    """Serialise the accept and the finish of one conversation (PostgreSQL row lock; SQLite has one writer)."""
    if s.bind.dialect.name != "sqlite":
        await s.execute(select(Conversation.id).where(Conversation.id == conversation_id).with_for_update())


async def address_of(s: AsyncSession, contact_id: int, channel: str) -> str | None:
    """The citizen's id on the conversation's channel (for SMS without an identity, their first phone)."""
    ident = await s.scalar(
        select(ContactIdentity.external_id)
        .where(ContactIdentity.contact_id == contact_id, ContactIdentity.channel == channel)
        .limit(1)
    )
    if ident is None and channel == "sms":
        ident = await s.scalar(
            select(ContactPhone.e164).where(ContactPhone.contact_id == contact_id).order_by(ContactPhone.id).limit(1)
        )
    return ident


Runner = Callable[[TurnCtx], Awaitable["TurnCtx | None"]]


class TurnQueue:
    def __init__(
        self,
        app: Any,
        runner: Runner,
        *,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
        concurrency: int = 32,
        pace: int = 6,
        pace_seconds: float = 1.0,
    ) -> None:
        self.app = app
        self.runner = runner
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.owner = f"{socket.gethostname()[:16]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # conversations this process runs at most, each holding a slot from its first turn to its last
        self.slots = asyncio.Semaphore(concurrency)
        self.concurrency = concurrency
        # turns answered at once (URP_TURN_CONCURRENCY); the others wait in arrival order. A turn is CPU spent in
        # the CRM, Rasa and the action server: with every waiting turn let in, they all shared the CPU and each took
        # about as long as all of them (bench/bot_bench.py, 20 conversations at once on 2 cores: p95 1.0-1.2 s with
        # 32 turns at once, 0.83-0.89 s with 6, the same messages per second). A turn still running after
        # ``pace_seconds`` waits on something slow (Rasa, a back office) and gives its place up, so it never holds
        # up the turns behind it.
        self.pace = asyncio.Semaphore(pace)
        self.pace_seconds = pace_seconds
        self.accepting = False  # False until the app is ready (KB built), and again from shutdown on
        self.running: dict[int, asyncio.Task[Any]] = {}  # conversation id -> its chain of turns in this process
        # a turn taken at accept while its conversation's chain here still sends the previous turn's replies (that
        # turn is done, so the accept took the new one): the chain runs it next instead of ending
        self.handed: dict[int, TurnCtx] = {}
        self.bg = Background()
        self._wake = asyncio.Event()
        # a poll found every slot taken, or took as many turns as it had slots (more may wait): the next chain to
        # end polls again. Otherwise a chain's end frees a slot nobody waits for, and polling then (a read of the
        # queue after every turn) found nothing: the turns of a conversation running here are taken by its chain
        self._starved = False
        self.stats = {
            "claimed_at_accept": 0,
            "chained": 0,
            "polled": 0,
            "released": 0,
            "lease_lost": 0,
            "gave_place_up": 0,  # turns still running after pace_seconds (a slow Rasa or back office, an overload)
        }
        self.waited_ms: deque[float] = deque(maxlen=1000)  # the last turns' waits for a place: /health percentiles

    # --- inside the accept's transaction -------------------------------------------------------------------------
    async def enqueue(self, s: AsyncSession, *, ente_id: int, conversation_id: int, message_id: int) -> TurnJob:
        """Queue the turn of a message just stored; take it at once when nothing else of the conversation waits.
        The caller holds the conversation's lock (``lock_conversation``)."""
        busy = await s.scalar(_BUSY, {"conversation_id": conversation_id})
        now = utcnow()
        take = busy is None and self.accepting
        job = TurnJob(
            ente_id=ente_id,
            conversation_id=conversation_id,
            message_id=message_id,
            state="running" if take else "queued",
            owner=self.owner if take else None,
            lease_until=now + self.lease if take else None,
            attempts=1 if take else 0,
            started_at=now if take else None,
            created_at=now,
        )
        s.add(job)
        await s.flush()
        return job

    async def unfinished(self, s: AsyncSession, message_id: int) -> bool:
        """A duplicate arrived: is its message's turn still to do (then it is processed, not skipped)?"""
        state = await s.scalar(select(TurnJob.state).where(TurnJob.message_id == message_id))
        return state in UNFINISHED

    # --- after the accept committed ------------------------------------------------------------------------------
    def start(self, ctx: TurnCtx) -> None:
        """Run a turn this process took (and then the conversation's next ones), off the client's connection."""
        self.stats["claimed_at_accept"] += 1
        self._spawn(ctx)

    def wake(self) -> None:
        self._wake.set()

    def _spawn(self, ctx: TurnCtx) -> None:
        if ctx.conversation_id in self.running:  # never run two turns of a conversation at once
            if ctx.conversation_id not in self.handed:
                self.handed[ctx.conversation_id] = ctx  # its previous turn is done: the chain takes this one next
                return
            log.error(  # cannot happen while the claim protocol holds: a second turn claimed behind an unfinished one
                "conversation %s already running here; turn %s left to the poll", ctx.conversation_id, ctx.turn_id
            )
            return
        self.running[ctx.conversation_id] = self.bg.spawn(self._chain(ctx), name=f"turns-conv-{ctx.conversation_id}")

    async def _chain(self, first: TurnCtx) -> None:
        conv_id = first.conversation_id
        ctx: TurnCtx | None = first
        try:
            async with self.slots:
                while ctx is not None:
                    turn = ctx
                    try:
                        async with self._paced():
                            ctx = await self.runner(turn)
                    except LeaseLost:
                        self.stats["lease_lost"] += 1
                        log.warning("turn %s lost its lease; another worker has it", turn.turn_id)
                        ctx = None
                    except asyncio.CancelledError:
                        raise
                    except Exception:  # noqa: BLE001 - the lease runs out and the turn is tried again
                        log.exception("turn %s failed; it will be taken again when its lease runs out", turn.turn_id)
                        ctx = None
                    if ctx is None:  # no await from here to the pop below: nothing can be handed in between
                        ctx = self.handed.pop(conv_id, None)
                    if ctx is not None:
                        self.stats["chained"] += 1
        finally:
            self.running.pop(conv_id, None)
            # cancelled (shutdown) with a turn handed over: it stays ours and running; stop() hands it back
            self.handed.pop(conv_id, None)
            if self._starved:  # a slot is free and a poll had to leave turns for lack of one
                self._wake.set()

    @contextlib.asynccontextmanager
    async def _paced(self) -> AsyncIterator[None]:
        """One of the ``pace`` places for a turn, given up at its end or after ``pace_seconds``, whichever is first."""
        loop = asyncio.get_running_loop()
        asked = loop.time()
        await self.pace.acquire()
        self.waited_ms.append((loop.time() - asked) * 1000)
        held = True

        def give_up(late: bool) -> None:
            nonlocal held
            if held:
                held = False
                self.pace.release()
                self.stats["gave_place_up"] += late

        timer = loop.call_later(self.pace_seconds, give_up, True)
        try:
            yield
        finally:
            timer.cancel()
            give_up(False)

    # --- at the end of a turn, inside the runner's final transaction ---------------------------------------------
    async def finish(self, s: AsyncSession, ctx: TurnCtx, outcome: str) -> TurnCtx | None:
        """Mark the turn done (only if we still hold it) and take the conversation's next turn, if any."""
        now = utcnow()
        done = await s.execute(
            _DONE, {"b_turn_id": ctx.turn_id, "b_owner": self.owner, "b_outcome": outcome, "b_now": now}
        )
        if rowcount(done) != 1:
            raise LeaseLost(ctx.turn_id)
        if not self.accepting:
            return None  # shutting down: the next turn stays queued for whoever runs next
        nxt = await s.scalar(_NEXT, {"conversation_id": ctx.conversation_id})
        if nxt is None or not await self._claim(s, nxt, now):
            return None
        return await self._load(s, nxt)

    # --- claims ----------------------------------------------------------------------------------------------------
    async def _claim(self, s: AsyncSession, turn_id: int, now: datetime) -> bool:
        """Compare-and-set: queued, or running with a lease that ran out, becomes ours."""
        r = await s.execute(
            update(TurnJob)
            .where(
                TurnJob.id == turn_id,
                or_(TurnJob.state == "queued", and_(TurnJob.state == "running", TurnJob.lease_until < now)),
            )
            .values(
                state="running",
                owner=self.owner,
                lease_until=now + self.lease,
                attempts=TurnJob.attempts + 1,
                started_at=now,
            )
        )
        return rowcount(r) == 1

    async def _load(self, s: AsyncSession, turn_id: int) -> TurnCtx:
        row = (
            await s.execute(
                select(
                    TurnJob,
                    Message.text,
                    Message.payload,
                    Conversation.contact_id,
                    Conversation.channel,
                    Conversation.mode,
                )
                .join(Message, Message.id == TurnJob.message_id)
                .join(Conversation, Conversation.id == TurnJob.conversation_id)
                .where(TurnJob.id == turn_id)
            )
        ).one()
        job, text, payload, contact_id, channel, mode = row
        return TurnCtx(
            turn_id=job.id,
            ente_id=job.ente_id,
            conversation_id=job.conversation_id,
            contact_id=contact_id,
            message_id=job.message_id,
            channel=channel,
            address=await address_of(s, contact_id, channel),
            text=text or "",
            payload=payload or {},
            mode=mode,
            created_at=job.created_at,
            attempts=job.attempts,
        )

    async def poll_once(self) -> int:
        """Take the turns nobody runs: queued while this process was starting, or left by a dead worker."""
        free = self.concurrency - len(self.running)
        if not self.accepting:
            return 0
        self._starved = free <= 0
        if self._starved:
            return 0
        now = utcnow()
        older = aliased(TurnJob)
        stmt = (
            select(TurnJob.id)
            .where(
                or_(TurnJob.state == "queued", and_(TurnJob.state == "running", TurnJob.lease_until < now)),
                ~exists().where(
                    older.conversation_id == TurnJob.conversation_id, older.state.in_(UNFINISHED), older.id < TurnJob.id
                ),
            )
            .order_by(TurnJob.id)
            .limit(free)
        )
        if self.running:  # ours already: their chains take the next turn themselves
            stmt = stmt.where(TurnJob.conversation_id.not_in(list(self.running)))
        served = await served_ente_ids(self.app)
        if served is not None:  # a process given some comuni (URP_SCHEDULER_ENTES) takes only their turns
            stmt = stmt.where(TurnJob.ente_id.in_(served))
        maker = self.app.ctx.sessionmaker
        async with reading(maker) as s:  # an idle poll must not take SQLite's write lock to find nothing
            if await s.scalar(stmt.limit(1)) is None:
                return 0
        taken: list[TurnCtx] = []
        async with transaction(maker) as s:
            if s.bind.dialect.name != "sqlite":
                stmt = stmt.with_for_update(skip_locked=True, of=TurnJob)
            found = (await s.scalars(stmt)).all()
            self._starved = len(found) >= free
            for turn_id in found:
                if await self._claim(s, turn_id, now):
                    taken.append(await self._load(s, turn_id))
        for ctx in taken:
            if ctx.conversation_id in self.running:  # a chain of ours started meanwhile: hand the turn back
                await self._release([ctx.turn_id])
                continue
            self.stats["polled"] += 1
            self._spawn(ctx)
        return len(taken)

    async def renew(self) -> None:
        """Keep the leases of the turns this process runs (a long Rasa turn must not be taken over)."""
        if not self.running:
            return
        async with transaction(self.app.ctx.sessionmaker) as s:
            await s.execute(
                update(TurnJob)
                .where(TurnJob.owner == self.owner, TurnJob.state == "running")
                .values(lease_until=utcnow() + self.lease)
            )

    async def _release(self, turn_ids: list[int] | None = None) -> int:
        stmt = update(TurnJob).where(TurnJob.owner == self.owner, TurnJob.state == "running")
        if turn_ids is not None:
            stmt = stmt.where(TurnJob.id.in_(turn_ids))
        async with transaction(self.app.ctx.sessionmaker) as s:
            r = await s.execute(stmt.values(state="queued", owner=None, lease_until=None))
        return rowcount(r)

    async def run(self) -> None:
        """The poll loop: wakes on a signal (a turn queued here, a slot freed) or every ``poll_seconds``."""
        renew_every = max(self.lease.total_seconds() / 3, 0.5)
        last_renew = asyncio.get_running_loop().time()
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.poll_once()
                now = asyncio.get_running_loop().time()
                if now - last_renew >= renew_every:
                    await self.renew()
                    last_renew = now
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the database may be briefly unavailable: try again next time
                log.exception("turn queue poll failed")

    def open(self) -> None:
        """The app is ready (knowledge base built): take turns from now on."""
        self.accepting = True
        self.bg.spawn(self.run(), name="turn-queue-poll")
        self._wake.set()

    async def stop(self, grace: float) -> None:
        """Stop taking turns; let running ones finish for ``grace`` seconds; hand back what is still running."""
        self.accepting = False
        chains = [t for t in self.running.values() if not t.done()]
        if chains:
            await asyncio.wait(chains, timeout=grace)
        await self.bg.stop(timeout=5)
        try:
            released = await uncancellable(self._release())
        except Exception:  # noqa: BLE001 - the database went first: the leases run out instead
            log.exception("could not hand back running turns")
            released = 0
        self.stats["released"] += released
        if released:
            log.info("handed back %d unfinished turns", released)

    async def health(self) -> dict[str, Any]:
        from sqlalchemy import func

        async with self.app.ctx.read_sessionmaker() as s:
            rows = (
                await s.execute(
                    select(TurnJob.state, func.count(), func.min(TurnJob.created_at))
                    .where(TurnJob.state.in_(UNFINISHED))
                    .group_by(TurnJob.state)
                )
            ).all()
        counts = {state: n for state, n, _ in rows}
        oldest = min((t for _, _, t in rows if t is not None), default=None)
        return {
            "status": "ok" if self.accepting else "starting",
            "queued": counts.get("queued", 0),
            "running": counts.get("running", 0),
            "running_here": len(self.running),
            "oldest_unfinished_seconds": round((utcnow() - oldest).total_seconds(), 1) if oldest else None,
            "place_wait_ms": percentiles(self.waited_ms),
            **self.stats,
        }
