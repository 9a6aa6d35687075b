"""What a bot turn writes (issue 14, item 9: one transaction per step, nothing written twice). The replies of a
turn go in with one INSERT, already claimed for sending, and touch their conversation once; on SQLite the accept
stores the message without a savepoint (its write transaction cannot lose the duplicate race there)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import event, select


def test_a_turn_writes_its_replies_in_one_statement(tmp_path: Path, database_url: str) -> None:
    from channels import hub
    from channels.base import Inbound
    from channels.queue import TurnCtx
    from crm.conversations.models import Message
    from crm.db import transaction
    from crm.entes import service as entes
    from tests.channels.inproc import app_env, running

    slug = f"writes-{uuid.uuid4().hex[:8]}"

    async def go() -> tuple[list[str], list[str], list[Any], str]:
        async with running(app_env(tmp_path, database_url, slug)) as app:
            async with transaction(app.ctx.sessionmaker) as s:
                ente_id = (await entes.create(s, slug=slug, name="Comune di Prova")).id
            taken: list[TurnCtx] = []

            async def runner(t: TurnCtx) -> TurnCtx | None:
                taken.append(t)  # the turn is held here: the test finishes it itself
                return None

            app.ctx.turns.runner = runner
            seen: list[str] = []

            def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
                seen.append(" ".join(statement.split())[:60])

            engine = app.ctx.engine.sync_engine
            event.listen(engine, "before_cursor_execute", record)
            await hub.accept(
                app, ente_id, Inbound(channel="telegram", address="4343", text="ciao", channel_message_id="w1")
            )
            accept = list(seen)
            for _ in range(50):
                if taken:
                    break
                await asyncio.sleep(0.02)
            seen.clear()
            replies = [
                {"text": "Buongiorno!"},
                {"text": "Sono l'assistente virtuale del Comune."},
                {"text": "Come posso aiutarla?", "buttons": [{"title": "Orari", "payload": "/orari"}]},
            ]
            await hub._finish_turn(app, taken[0], "bot", None, replies)
            event.remove(engine, "before_cursor_execute", record)
            async with app.ctx.read_sessionmaker() as s:
                out = (
                    await s.execute(
                        select(Message.text, Message.delivery_status, Message.delivery_attempts, Message.payload)
                        .where(Message.ente_id == ente_id, Message.direction == "out")
                        .order_by(Message.id)
                    )
                ).all()
            return accept, list(seen), [tuple(r) for r in out], app.ctx.engine.dialect.name

    accept, finish, out, dialect = asyncio.run(go())
    inserts = [s for s in finish if s.startswith("INSERT INTO messages")]
    touches = [s for s in finish if s.startswith("UPDATE conversations")]
    claims = [s for s in finish if s.startswith("UPDATE messages SET delivery_status=?, delivery_attempts=?")]
    assert len(inserts) == 1 and len(touches) == 1 and claims == [], finish
    # both stored in order and claimed by the turn; Telegram is not configured in this app, so each send failed and
    # was recorded as such (one attempt spent, retried later)
    assert [(text, attempts) for text, _, attempts, _ in out] == [
        ("Buongiorno!", 1),
        ("Sono l'assistente virtuale del Comune.", 1),
        ("Come posso aiutarla?", 1),
    ]
    assert out[2][3] == {"buttons": [{"title": "Orari", "payload": "/orari"}]}
    if dialect == "sqlite":
        assert not [s for s in accept if "SAVEPOINT" in s], accept
