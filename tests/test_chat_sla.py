"""The first-response SLA of handed-off chats on the ente's working time (crm/conversations/sla.py): across lunch, a
day boundary, a holiday and both DST changes in Europe/Rome; the scheduler's escalation (once, with its audit line
and live event); the workspace's badge and the settings form."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from crm.conversations.models import Conversation
from crm.conversations.sla import Targets, clock
from crm.core.workhours import make_office_hours
from tests.console.test_console import csrf, login

ROME = ZoneInfo("Europe/Rome")
T = Targets(hours=make_office_hours("mon-fri 08:00-12:30,14:00-17:00", "Europe/Rome", "06-29"), minutes=5, per_topic={})


def rome(y: int, m: int, d: int, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=ROME)


def chat(handoff: datetime, *, mode: str = "waiting", topic_id: int | None = None) -> Conversation:
    return Conversation(
        ente_id=1, contact_id=1, channel="web", mode=mode, handoff_at=handoff.astimezone(UTC), topic_id=topic_id
    )


def test_countdown_then_in_scadenza_then_late_within_the_day() -> None:
    c = chat(rome(2026, 11, 24, 10, 0))  # a Tuesday
    ok = clock(c, T, rome(2026, 11, 24, 10, 1).astimezone(UTC))
    assert ok is not None and (ok.state, ok.label, ok.detail) == ("ok", "In tempo", "scade tra 4 min")
    assert ok.due_at == rome(2026, 11, 24, 10, 5)
    due = clock(c, T, rome(2026, 11, 24, 10, 3, 30))
    assert due is not None and (due.state, due.label, due.detail) == ("due", "In scadenza", "scade tra 2 min")
    late = clock(c, T, rome(2026, 11, 24, 11, 10))
    assert late is not None and (late.state, late.label, late.detail) == (
        "late",
        "Oltre il tempo",
        "in ritardo di 1 h 5 min",
    )
    assert clock(c, T, rome(2026, 11, 24, 10, 5, 20)).detail == "in ritardo di meno di un minuto"  # type: ignore[union-attr]


def test_lunch_break_gives_the_time_it_runs_out() -> None:
    c = chat(rome(2026, 11, 24, 12, 28))
    at = clock(c, T, rome(2026, 11, 24, 12, 29))
    assert at is not None and at.due_at == rome(2026, 11, 24, 14, 3)
    assert (at.state, at.detail) == ("ok", "scade alle 14:03")
    # the wait over lunch is not counted: at 14:30 it is 27 working minutes late, not 2 hours
    assert clock(c, T, rome(2026, 11, 24, 14, 30)).detail == "in ritardo di 27 min"  # type: ignore[union-attr]


def test_day_boundary() -> None:
    c = chat(rome(2026, 11, 24, 16, 58))  # Tuesday, 2 minutes before closing
    evening = clock(c, T, rome(2026, 11, 24, 20, 0))
    assert evening is not None and evening.due_at == rome(2026, 11, 25, 8, 3)
    assert (evening.state, evening.detail) == ("ok", "scade domani alle 08:03")  # 3 of 5 minutes left
    morning = clock(c, T, rome(2026, 11, 25, 8, 2))
    assert morning is not None and (morning.state, morning.detail) == ("due", "scade tra 1 min")
    late = clock(c, T, rome(2026, 11, 25, 9, 0))
    assert late is not None and (late.state, late.detail) == ("late", "in ritardo di 57 min")


def test_holiday_and_weekend_are_skipped() -> None:
    # Monday 7 Dec 2026 16:58; Tuesday 8 Dec is the Immacolata: due Wednesday 9 at 08:03
    c = chat(rome(2026, 12, 7, 16, 58))
    evening = clock(c, T, rome(2026, 12, 7, 18, 0))
    assert evening is not None and evening.due_at == rome(2026, 12, 9, 8, 3)
    assert (evening.state, evening.detail) == ("ok", "scade mercoledì 09/12 alle 08:03")
    on_holiday = clock(c, T, rome(2026, 12, 8, 10, 0))
    assert on_holiday is not None and on_holiday.detail == "scade domani alle 08:03"
    # the patron day (29 June 2026, a Monday) after a weekend: Friday 26 at 16:58 -> Tuesday 30 at 08:03
    patron = clock(chat(rome(2026, 6, 26, 16, 58)), T, rome(2026, 6, 29, 9, 0))
    assert patron is not None and patron.due_at == rome(2026, 6, 30, 8, 3)
    assert patron.detail == "scade domani alle 08:03"


def test_dst_autumn_back() -> None:
    # Friday 23 Oct 2026 16:58 CEST (UTC+2); the clocks go back on Sunday 25: due Monday 26 08:03 CET (UTC+1)
    c = chat(rome(2026, 10, 23, 16, 58))
    at = clock(c, T, datetime(2026, 10, 26, 7, 1, tzinfo=UTC))  # 08:01 in Rome
    assert at is not None
    assert at.due_at == datetime(2026, 10, 26, 7, 3, tzinfo=UTC)
    assert (at.state, at.detail) == ("due", "scade tra 2 min")
    late = clock(c, T, datetime(2026, 10, 26, 8, 0, tzinfo=UTC))  # 09:00 in Rome
    assert late is not None and late.detail == "in ritardo di 57 min"


def test_dst_spring_forward_and_easter_monday() -> None:
    # Friday 26 Mar 2027 16:58 CET; the clocks go forward on Sunday 28 (Easter), Monday 29 is Easter Monday:
    # due Tuesday 30 at 08:03 CEST, i.e. 06:03 UTC
    c = chat(rome(2027, 3, 26, 16, 58))
    at = clock(c, T, rome(2027, 3, 29, 11, 0))
    assert at is not None and at.due_at == datetime(2027, 3, 30, 6, 3, tzinfo=UTC)
    assert at.detail == "scade domani alle 08:03"
    assert clock(c, T, datetime(2027, 3, 30, 6, 13, tzinfo=UTC)).detail == "in ritardo di 10 min"  # type: ignore[union-attr]


def test_per_topic_target_and_when_it_does_not_apply() -> None:
    t = Targets(hours=T.hours, minutes=5, per_topic={7: 30})
    start = rome(2026, 11, 24, 9, 0)
    assert clock(chat(start, topic_id=7), t, rome(2026, 11, 24, 9, 20)).detail == "scade tra 10 min"  # type: ignore[union-attr]
    assert clock(chat(start, topic_id=8), t, rome(2026, 11, 24, 9, 20)).state == "late"  # type: ignore[union-attr]
    answered = chat(start)
    answered.first_response_at = start + timedelta(minutes=1)
    assert clock(answered, t, rome(2026, 11, 24, 10, 0)) is None
    assert clock(chat(start, mode="closed"), t, rome(2026, 11, 24, 10, 0)) is None
    assert clock(chat(start, mode="bot"), t, rome(2026, 11, 24, 10, 0)) is None


# --- the escalation, on the real database ------------------------------------------------------------------------
def _handed_off(client: httpx.Client, ente_ctx: Any, db: Any, name: str, *, ago: timedelta) -> int:
    from crm.conversations import service

    cid = client.post(
        "/api/v1/contacts", json={"first_name": name, "last_name": "Attesa"}, headers=ente_ctx.headers("operator")
    ).json()["id"]

    async def work(s: Any) -> int:
        conv, _, _ = await service.record_inbound(
            s,
            ente_id=ente_ctx.ente_id,
            contact_id=cid,
            channel="web",
            text="Vorrei un operatore",
            channel_message_id=None,
        )
        await service.handoff(
            s,
            ente_id=ente_ctx.ente_id,
            conversation_id=conv.id,
            topic_slug="urp",
            summary="Chiede un operatore",
            context={},
        )
        conv.handoff_at = conv.handoff_at - ago  # type: ignore[operator]
        return conv.id

    return int(db.run(work))


def test_a_late_chat_is_escalated_once_with_audit_and_event(client: httpx.Client, ente_ctx: Any, db: Any) -> None:
    from crm.conversations.escalation import escalate_due
    from crm.pubsub import MemoryPubSub

    late = _handed_off(client, ente_ctx, db, "Tardiva", ago=timedelta(days=30))
    fresh = _handed_off(client, ente_ctx, db, "Fresca", ago=timedelta(0))

    async def run(maker: Any) -> tuple[list[int], list[int], list[dict[str, Any]]]:
        app = SimpleNamespace(ctx=SimpleNamespace(pubsub=MemoryPubSub(), sessionmaker=maker))
        seen: list[dict[str, Any]] = []
        async with app.ctx.pubsub.subscribe(f"ente:{ente_ctx.ente_id}") as events:

            async def collect() -> None:
                async for e in events:
                    seen.append(e)

            task = asyncio.create_task(collect())
            first = await escalate_due(app, ente_id=ente_ctx.ente_id)
            second = await escalate_due(app, ente_id=ente_ctx.ente_id)
            await asyncio.sleep(0.1)
            task.cancel()
        return first, second, seen

    first, second, seen = db.call(run)
    assert first == [late] and second == []
    assert [(e["type"], e["id"], e["action"], e["sla"]) for e in seen] == [
        ("conversation", late, "sla_escalate", "late")
    ]
    audit = client.get(
        "/api/v1/audit", params={"entity": "conversation", "entity_id": late}, headers=ente_ctx.headers("admin")
    )
    assert audit.status_code == 200
    assert "sla_escalate" in [a["action"] for a in audit.json()["items"]]
    assert fresh not in first


def test_workspace_shows_the_sla_and_settings_change_the_target(
    server: Any, client: httpx.Client, ente_ctx: Any, db: Any
) -> None:
    late = _handed_off(client, ente_ctx, db, "Tardiva", ago=timedelta(days=30))
    _handed_off(client, ente_ctx, db, "Fresca", ago=timedelta(0))
    c = login(server, ente_ctx)
    page = c.get("/console/inbox?view=waiting").text
    assert "Oltre il tempo" in page and "in ritardo di" in page and "In tempo" in page
    assert re.search(r'ws-sla-badge-late[^>]*><span aria-hidden="true" class="ws-sla-icon">!</span>', page)
    head = c.get(f"/console/conversations/{late}").text
    assert "Prima risposta:" in head and "Oltre il tempo" in head
    for english in ("late", "due", "ok"):
        assert f">{english}<" not in page
    admin = login(server, ente_ctx, "admin")
    settings = admin.get("/console/settings").text
    assert "Tempi di prima risposta in chat" in settings
    token = csrf(settings)
    topic = ente_ctx.topics["urp"]
    bad = admin.post("/console/settings/chat-sla", data={"csrf": token, "minutes": "0", f"t{topic}": "abc"})
    assert bad.status_code == 422 and "Un numero intero di minuti, da 1 a 1440." in bad.text
    ok = admin.post("/console/settings/chat-sla", data={"csrf": token, "minutes": "1440", f"t{topic}": "720"})
    assert ok.status_code == 303
    saved = admin.get("/console/settings").text
    assert 'value="1440"' in saved and 'value="720"' in saved
    # with a 12-hour target the 30-days-old chat is still late, the fresh one still in time
    page = c.get("/console/inbox?view=waiting").text
    assert "Oltre il tempo" in page and "In tempo" in page
