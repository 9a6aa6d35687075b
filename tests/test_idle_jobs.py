"""Background work never holds SQLite's writer when it has nothing to do (issue 14, item 6).

Each scheduler job and the turn queue's poll run once on a database with nothing due: none may begin a write
transaction (``BEGIN IMMEDIATE`` takes SQLite's one write lock; at start-up such idle polls held it up to 0.7 s while
the knowledge base's index was built on the same event loop, and every citizen's message waited behind them). Then
one notification is due and the notifications job must write, so the check cannot pass by writing nothing ever.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import event


def test_idle_jobs_take_no_write_lock(tmp_path: Path) -> None:
    from crm.migrations import upgrade
    from crm.scheduler import JOBS
    from tests.channels.inproc import app_env, running

    url = f"sqlite:///{tmp_path / 'urp.db'}"
    upgrade(url)

    async def go() -> tuple[dict[str, int], int]:
        async with running(app_env(tmp_path, url, "idle-jobs")) as app:
            writes: list[str] = []
            now = ["?"]

            def begin(conn: Any) -> None:
                if conn.get_execution_options().get("sqlite_begin", "IMMEDIATE") == "IMMEDIATE":
                    writes.append(now[0])

            engine = app.ctx.sessionmaker.kw["bind"].sync_engine
            event.listen(engine, "begin", begin)
            try:
                for name, job in JOBS.items():
                    now[0] = name
                    await job(app)
                now[0] = "turn-queue"
                await app.ctx.turns.poll_once()
                idle = {name: writes.count(name) for name in [*JOBS, "turn-queue"]}

                # now there is work: a notification due, which the outbox job must claim in a write transaction
                from crm.contacts import service as contacts
                from crm.contacts.schemas import ContactIn
                from crm.db import transaction
                from crm.entes import service as entes
                from crm.notifications.service import enqueue

                async with transaction(app.ctx.sessionmaker) as s:
                    ente = await entes.create(s, slug="idle-jobs-2", name="Comune di Prova", patron_day="06-29")
                    who = await contacts.create(s, ente_id=ente.id, data=ContactIn(emails=["a@example.org"]))
                    await enqueue(s, ente_id=ente.id, contact_id=who.id, kind="test", text="x", dedupe_key="idle")
                writes.clear()
                now[0] = "notifications"
                await JOBS["notifications"](app)
                return idle, writes.count("notifications")
            finally:
                event.remove(engine, "begin", begin)

    idle, busy = asyncio.run(go())
    assert len(idle) >= 8, idle  # every module's job was run (kb-persist, chat-sla, notifications, reminders, ...)
    assert not any(idle.values()), f"write transactions opened with nothing to do: {idle}"
    assert busy >= 1
