"""Turns answered at once per process (URP_TURN_CONCURRENCY), the others in arrival order; a turn that waits on
something slow gives its place up after URP_TURN_SLOT_SECONDS (issue 14: the 20-concurrent p95).

A turn's work is CPU in the CRM, Rasa and the action server. With every waiting turn let in at once they shared the
CPU and each took about as long as all of them together; in arrival order, a few at a time, each takes its own time
plus the wait. A turn stuck on a slow Rasa or back office must not stop the ones behind it.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from sqlalchemy import select


def _run(tmp_path: Path, database_url: str, *, stuck: int) -> tuple[list[str], int, list[str], float]:
    """Six citizens write one message each; the runner of the first ``stuck`` turns waits until the others are done.
    Returns the order the turns started in, the most turns that ran at once before any was stuck for long, the turn
    rows' states, and how long after the first accept the last non-stuck turn started."""
    from channels import hub
    from channels.base import Inbound
    from channels.models import TurnJob
    from channels.queue import TurnCtx
    from crm.db import transaction
    from crm.entes import service as entes
    from tests.channels.inproc import app_env, running

    slug = f"pacing-{uuid.uuid4().hex[:8]}"
    env = {**app_env(tmp_path, database_url, slug), "URP_TURN_CONCURRENCY": "2", "URP_TURN_SLOT_SECONDS": "0.3"}

    async def go() -> tuple[list[str], int, list[str], float]:
        async with running(env) as app:
            async with transaction(app.ctx.sessionmaker) as s:
                ente_id = (await entes.create(s, slug=slug, name="Comune di Prova")).id
            queue = app.ctx.turns
            started: list[str] = []
            at_once = most = 0
            others_done = asyncio.Event()
            last_start = 0.0
            loop = asyncio.get_running_loop()
            t0 = loop.time()

            async def runner(t: TurnCtx) -> TurnCtx | None:
                nonlocal at_once, most, last_start
                started.append(t.text)
                n = int(t.text.split()[-1])
                at_once += 1
                if n > stuck:
                    most = max(most, at_once)
                    last_start = loop.time() - t0
                try:
                    if n <= stuck:
                        await asyncio.wait_for(others_done.wait(), timeout=10)
                    else:
                        await asyncio.sleep(0.05)  # the CPU a turn takes, as far as the queue can tell
                finally:
                    at_once -= 1
                async with transaction(app.ctx.sessionmaker) as s:
                    nxt = await queue.finish(s, t, "bot")
                if sum(1 for x in started if int(x.split()[-1]) > stuck) == 6 - stuck and at_once <= stuck:
                    others_done.set()
                return nxt

            queue.runner = runner
            for n in range(1, 7):  # six citizens, one message each, all arriving before any turn has finished
                await hub.accept(
                    app,
                    ente_id,
                    Inbound(channel="telegram", address=f"77{n}", text=f"messaggio {n}", channel_message_id=f"p{n}"),
                )
            for _ in range(200):
                async with app.ctx.read_sessionmaker() as s:
                    mine = select(TurnJob.state).where(TurnJob.ente_id == ente_id).order_by(TurnJob.id)
                    states = list((await s.scalars(mine)).all())
                if states and all(x == "done" for x in states):
                    break
                await asyncio.sleep(0.05)
            return started, most, states, last_start

    return asyncio.run(go())


def test_turns_run_a_few_at_a_time_in_arrival_order(tmp_path: Path, database_url: str) -> None:
    started, most, states, _ = _run(tmp_path, database_url, stuck=0)
    assert states == ["done"] * 6
    assert started == [f"messaggio {n}" for n in range(1, 7)]
    assert most == 2, f"{most} turns ran at once with URP_TURN_CONCURRENCY=2"


def test_a_turn_waiting_on_something_slow_does_not_hold_up_the_others(tmp_path: Path, database_url: str) -> None:
    # both places are taken by turns that wait (a frozen Rasa, a slow back office) until the other four are done:
    # without giving their places up after URP_TURN_SLOT_SECONDS, nobody would ever finish
    started, most, states, last_start = _run(tmp_path, database_url, stuck=2)
    assert states == ["done"] * 6, states
    assert started[:2] == ["messaggio 1", "messaggio 2"]
    assert sorted(started[2:]) == [f"messaggio {n}" for n in range(3, 7)]
    assert most <= 4  # the two stuck ones gave their places up; fresh turns still came at most two at a time
    assert last_start < 5, f"the last turn behind the stuck ones started after {last_start:.1f} s"
