"""A message accepted while its conversation's chain is still sending the previous turn's replies (issue 14: one turn
at a time per conversation, every turn answered).

The previous turn is already done (its transaction committed) when its replies go out, so the accept takes the new
turn at once; the chain of that conversation has not ended yet. The new turn must still run: before, it was left
"running" with this process's lease, which the queue's renewal kept alive while other conversations ran, so nobody
ever answered it.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from sqlalchemy import select


def test_a_turn_accepted_while_the_chain_sends_is_run(tmp_path: Path, database_url: str) -> None:
    from channels import hub
    from channels.base import Inbound
    from channels.models import TurnJob
    from channels.queue import TurnCtx
    from crm.db import transaction
    from crm.entes import service as entes
    from tests.channels.inproc import app_env, running

    slug = f"handover-{uuid.uuid4().hex[:8]}"

    async def go() -> tuple[list[str], list[str]]:
        async with running(app_env(tmp_path, database_url, slug)) as app:
            async with transaction(app.ctx.sessionmaker) as s:
                ente_id = (await entes.create(s, slug=slug, name="Comune di Prova")).id
            queue = app.ctx.turns
            ran: list[str] = []
            both = asyncio.Event()

            def inbound(n: int) -> Inbound:
                return Inbound(channel="telegram", address="4242", text=f"messaggio {n}", channel_message_id=f"u{n}")

            async def runner(t: TurnCtx) -> TurnCtx | None:
                ran.append(t.text)
                async with transaction(app.ctx.sessionmaker) as s:
                    nxt = await queue.finish(s, t, "bot")
                if t.text == "messaggio 1":
                    # the turn is done and its replies are going out: the citizen's next message arrives now
                    await hub.accept(app, ente_id, inbound(2))
                else:
                    both.set()
                return nxt

            queue.runner = runner
            await hub.accept(app, ente_id, inbound(1))
            try:
                await asyncio.wait_for(both.wait(), timeout=5)
            except TimeoutError:
                pass
            async with app.ctx.read_sessionmaker() as s:
                mine = select(TurnJob.state).where(TurnJob.ente_id == ente_id).order_by(TurnJob.id)
                states = list((await s.scalars(mine)).all())
            return ran, states

    ran, states = asyncio.run(go())
    assert ran == ["messaggio 1", "messaggio 2"], (ran, states)
    assert states == ["done", "done"]
