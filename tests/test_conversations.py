"""Conversation lifecycle: idempotent inbound storage, handoff, take, reply, transfer, close."""

from __future__ import annotations

import httpx


def _inbound(db, ente_ctx, contact_id: int, text: str, mid: str | None, channel: str = "sms"):  # type: ignore[no-untyped-def]
    from crm.conversations import service

    async def work(s):  # type: ignore[no-untyped-def]
        conv, msg, dup = await service.record_inbound(
            s, ente_id=ente_ctx.ente_id, contact_id=contact_id, channel=channel, text=text, channel_message_id=mid
        )
        return conv.id, msg.id, dup

    return db.run(work)


def _contact(client: httpx.Client, ente_ctx) -> int:  # type: ignore[no-untyped-def]
    return client.post("/api/v1/contacts", json={"first_name": "Rita"}, headers=ente_ctx.headers("operator")).json()[
        "id"
    ]


def test_inbound_is_idempotent_on_channel_message_id(client: httpx.Client, ente_ctx, db) -> None:
    cid = _contact(client, ente_ctx)
    a = _inbound(db, ente_ctx, cid, "buongiorno", "SM-1")
    b = _inbound(db, ente_ctx, cid, "buongiorno", "SM-1")
    assert a[0] == b[0] and a[1] == b[1] and b[2] is True
    c = _inbound(db, ente_ctx, cid, "altro", "SM-2")
    assert c[0] == a[0] and c[1] != a[1]
    conv = client.get(f"/api/v1/conversations/{a[0]}", headers=ente_ctx.headers("operator")).json()
    assert [m["text"] for m in conv["messages"]] == ["buongiorno", "altro"]
    assert conv["mode"] == "bot"


def test_handoff_take_reply_transfer_close(client: httpx.Client, ente_ctx, db) -> None:
    cid = _contact(client, ente_ctx)
    conv_id, _, _ = _inbound(db, ente_ctx, cid, "voglio parlare con un operatore", "SM-h1")
    h_bot, h_op, h_op2 = ente_ctx.headers("service"), ente_ctx.headers("operator"), ente_ctx.headers("operator2")
    url = f"/api/v1/conversations/{conv_id}"
    assert client.post(url + "/take", headers=h_op).status_code == 409  # still with the bot
    r = client.post(
        url + "/handoff",
        json={"topic": "anagrafe", "summary": "Chiede del cambio di residenza", "context": {"intent": "human_handoff"}},
        headers=h_bot,
    )
    assert r.status_code == 200 and r.json()["mode"] == "waiting" and r.json()["topic"] == "anagrafe"
    assert client.post(url + "/handoff", json={}, headers=h_bot).json()["mode"] == "waiting"  # retry is harmless
    queue = client.get("/api/v1/conversations", params={"mode": "waiting", "topic": "anagrafe"}, headers=h_op).json()
    assert conv_id in [c["id"] for c in queue["items"]]
    # a reply before taking the conversation is refused; an internal note is fine
    assert client.post(url + "/messages", json={"text": "Salve"}, headers=h_op).status_code == 403
    assert client.post(url + "/messages", json={"text": "nota", "private": True}, headers=h_op).status_code == 201
    assert client.post(url + "/take", headers=h_op).json()["assignee_id"] == ente_ctx.operator_ids["operator"]
    assert client.post(url + "/take", headers=h_op2).status_code == 409
    r = client.post(url + "/messages", json={"text": "Buongiorno, sono Giulia dell'URP."}, headers=h_op)
    assert r.status_code == 201 and r.json()["delivery_status"] == "pending" and r.json()["author_kind"] == "operator"
    mine = client.get("/api/v1/conversations", params={"assignee": "me", "mode": "assigned"}, headers=h_op).json()
    assert [c["id"] for c in mine["items"]] == [conv_id]
    r = client.post(url + "/transfer", json={"operator_id": ente_ctx.operator_ids["operator2"]}, headers=h_op)
    assert r.json()["assignee_id"] == ente_ctx.operator_ids["operator2"]
    full = client.get(url, headers=h_op2).json()
    assert full["first_response_at"] is not None
    # the citizen's message, the note, "<operator> has taken it" (a notice the citizen gets), the reply, and the notice
    # of the operator it was transferred to (no full name entered: the username)
    assert [(m["author_kind"], m["private"]) for m in full["messages"]] == [
        ("citizen", False),
        ("operator", True),
        ("system", False),
        ("operator", False),
        ("system", False),
    ]
    assert full["messages"][-1]["text"].startswith(ente_ctx.usernames["operator2"] + " dell'URP ha preso in carico")
    bot_view = client.get(url, headers=h_bot).json()
    assert all(not m["private"] for m in bot_view["messages"])  # internal notes never leave the staff
    assert client.post(url + "/close", headers=h_op2).json()["mode"] == "closed"
    assert client.post(url + "/messages", json={"text": "ancora"}, headers=h_op2).status_code == 409
    # the citizen writes again: a new bot conversation
    new_conv, _, _ = _inbound(db, ente_ctx, cid, "grazie", "SM-h2")
    assert new_conv != conv_id
    assert client.get(f"/api/v1/conversations/{new_conv}", headers=h_op).json()["mode"] == "bot"


def test_return_to_bot_and_bad_inputs(client: httpx.Client, ente_ctx, db) -> None:
    cid = _contact(client, ente_ctx)
    conv_id, _, _ = _inbound(db, ente_ctx, cid, "aiuto", None, channel="web")
    url = f"/api/v1/conversations/{conv_id}"
    h = ente_ctx.headers("operator")
    assert client.post(url + "/handoff", json={"topic": "nope"}, headers=h).status_code == 404
    assert client.post(url + "/return-to-bot", headers=h).status_code == 409
    assert client.post(url + "/handoff", json={}, headers=h).status_code == 200
    assert client.post(url + "/transfer", json={}, headers=h).status_code == 422
    assert client.post(url + "/return-to-bot", headers=h).json()["mode"] == "bot"
    assert client.get("/api/v1/conversations", params={"contact_id": "x"}, headers=h).status_code == 422
    assert client.post(url + "/messages", json={"text": ""}, headers=h).status_code == 422


def test_desk_status_for_the_assistant(client: httpx.Client, ente_ctx, db) -> None:  # type: ignore[no-untyped-def]
    """What the bot tells a citizen who asks for a person: open or not, the next opening, the queue, the usual wait."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from sqlalchemy import update

    from crm.conversations.models import Conversation

    h_bot, h_op = ente_ctx.headers("service"), ente_ctx.headers("operator")
    empty = client.get("/api/v1/desk", headers=h_bot).json()
    assert empty["waiting"] == 0 and empty["typical_wait_minutes"] is None
    assert isinstance(empty["open"], bool)
    nxt = datetime.fromisoformat(empty["next_opening"])
    # the ente keeps the default hours, mon-fri 08:00-12:30,14:00-17:00: the next opening is one of those, ahead
    assert nxt > datetime.now(ZoneInfo("Europe/Rome")) and nxt.weekday() < 5
    assert (nxt.hour, nxt.minute) in ((8, 0), (14, 0)) and nxt.utcoffset() in (timedelta(hours=1), timedelta(hours=2))

    ids = []
    for i in range(3):
        conv_id, _, _ = _inbound(db, ente_ctx, _contact(client, ente_ctx), "operatore", f"SM-desk-{i}")
        assert client.post(f"/api/v1/conversations/{conv_id}/handoff", json={}, headers=h_bot).status_code == 200
        ids.append(conv_id)
    assert client.get("/api/v1/desk", headers=h_bot).json()["waiting"] == 3
    for conv_id in ids:
        assert client.post(f"/api/v1/conversations/{conv_id}/take", headers=h_op).status_code == 200

    async def waited(s):  # type: ignore[no-untyped-def]
        # the operators took them after 4, 10 and 6 minutes
        for conv_id, minutes in zip(ids, (4, 10, 6), strict=True):
            conv = await s.get(Conversation, conv_id)
            await s.execute(
                update(Conversation)
                .where(Conversation.id == conv_id)
                .values(handoff_at=conv.taken_at - timedelta(minutes=minutes))
            )

    db.run(waited)
    after = client.get("/api/v1/desk", headers=h_bot).json()
    assert after["waiting"] == 0 and after["typical_wait_minutes"] == 6
    assert client.get("/api/v1/desk").status_code == 401
