"""What arrives at the channel edges that no person typed: control characters are stripped and the message is
stored (not a 500, not lost after the ack); a body that is not a Telegram update is a 400, and an update we ignore a
200 (python-telegram-bot's parser decides)."""

from __future__ import annotations

import json
import time
import uuid

import httpx

from tests.channels.conftest import TG_SECRET, Stack
from tests.channels.test_channels import _conversation_of, phone, sms, tg_update

_n = iter(range(881_234_000, 881_334_000))


def test_control_characters_are_stripped_and_the_message_kept(stack: Stack, db) -> None:  # type: ignore[no-untyped-def]
    number = phone()
    assert sms(stack, number, "ciao\x00 mondo\x07").status_code == 200
    texts = [
        m["text"] for m in _conversation_of(stack, stack.ente, "sms", number[3:])["messages"] if m["direction"] == "in"
    ]
    assert texts == ["ciao mondo"]
    user = next(_n)
    assert tg_update(stack, user, "buon\x00giorno").status_code == 200

    async def telegram_texts(s):  # type: ignore[no-untyped-def]
        from sqlalchemy import select

        from crm.contacts.models import ContactIdentity
        from crm.conversations.models import Conversation, Message

        return list(
            (
                await s.scalars(
                    select(Message.text)
                    .join(Conversation, Conversation.id == Message.conversation_id)
                    .join(ContactIdentity, ContactIdentity.contact_id == Conversation.contact_id)
                    .where(
                        ContactIdentity.channel == "telegram",
                        ContactIdentity.external_id == str(user),
                        Message.direction == "in",
                    )
                )
            ).all()
        )

    assert db.run(telegram_texts) == ["buongiorno"]

    from websockets.sync.client import connect

    session = str(uuid.uuid4())
    ws_url = stack.crm.url.replace("http", "ws") + "/channels/web/ws"

    def history() -> list[dict]:  # type: ignore[type-arg]
        with connect(ws_url, open_timeout=60) as other:
            other.send(json.dumps({"type": "hello", "session": session}))
            while True:  # a live event of the turn (typing, the reply) may come before the history
                event = json.loads(other.recv(timeout=60))
                if event["type"] == "history":
                    return event["messages"]  # type: ignore[no-any-return]

    with connect(ws_url, open_timeout=60) as ws:
        ws.send(json.dumps({"type": "hello", "session": session}))
        json.loads(ws.recv(timeout=60))
        ws.send(json.dumps({"type": "message", "text": "nul\u0000 nel testo", "client_id": "c-nul"}))
        assert json.loads(ws.recv(timeout=60))["type"] == "ack"
        deadline = time.monotonic() + 30
        while not history() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert history()[0]["text"] == "nul nel testo"


def test_telegram_garbage_is_400_and_updates_we_ignore_are_200(stack: Stack) -> None:
    url = stack.crm.url + "/channels/telegram/webhook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET, "Content-Type": "application/json"}
    for body in ("[]", "{}", "null", '"una stringa"', "42", '{"message": {"text": "x"}}'):
        r = httpx.post(url, content=body, headers=headers, timeout=30)
        assert r.status_code == 400, (body, r.status_code, r.text)
    # what the parser reads but we cannot act on (no chat, no sender) is ignored, never a 500
    for update in (
        {"update_id": next(_n), "message": {"message_id": 1, "date": 1, "text": "x"}},
        {"update_id": "x"},
        {"update_id": next(_n), "message": "testo"},
    ):
        r = httpx.post(url, json=update, headers=headers, timeout=30)
        assert r.status_code in (200, 400), (update, r.status_code, r.text)
    user = {"id": 5, "is_bot": False, "first_name": "Lucia"}
    chat = {"id": 5, "type": "private"}
    for update in (
        {"update_id": next(_n)},
        {
            "update_id": next(_n),
            "edited_message": {
                "message_id": 2,
                "date": 1,
                "edit_date": 2,
                "chat": chat,
                "from": user,
                "text": "corretto",
            },
        },
        {"update_id": next(_n), "message": {"message_id": 3, "date": 1, "chat": chat, "from": user, "sticker": None}},
    ):
        r = httpx.post(url, json=update, headers=headers, timeout=30)
        assert r.status_code == 200, (update, r.text)
