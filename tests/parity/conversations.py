"""Parity scenarios of conversations: the operators' and the assistant's changes, through the API and the console."""

from __future__ import annotations

from typing import Any

from tests.parity.bookings import contact
from tests.parity.harness import Harness, Perform, scenario


def conversation(h: Harness, mode: str = "bot", holder: str = "operator") -> int:
    """A web conversation with one citizen message, moved to ``mode`` (``assigned``: held by ``holder``)."""
    from crm.conversations import service as conversations

    cid = contact(h)

    async def work(s: Any) -> int:
        conv, _, _ = await conversations.record_inbound(
            s,
            ente_id=h.ente.ente_id,
            contact_id=cid,
            channel="web",
            text="Vorrei parlare con un operatore",
            channel_message_id=None,
        )
        if mode in ("waiting", "assigned"):
            await conversations.handoff(
                s,
                ente_id=h.ente.ente_id,
                conversation_id=conv.id,
                topic_slug="urp",
                summary="Chiede un operatore",
                context={},
            )
        if mode == "assigned":
            await conversations.take(
                s, ente_id=h.ente.ente_id, conversation_id=conv.id, operator_id=h.ente.operator_ids[holder]
            )
        return conv.id

    return h.setup(work)


@scenario("POST", "/api/v1/conversations/<conversation_id:int>/handoff", "service")
def api_handoff(h: Harness) -> Perform:
    return h.api(
        "POST",
        f"/api/v1/conversations/{conversation(h)}/handoff",
        "service",
        json={"topic": "urp", "summary": "Chiede dei tributi"},
    )


@scenario("POST", "/api/v1/conversations/<conversation_id:int>/take", "operator")
def api_take(h: Harness) -> Perform:
    return h.api("POST", f"/api/v1/conversations/{conversation(h, 'waiting')}/take", "operator")


@scenario("POST", "/api/v1/conversations/<conversation_id:int>/transfer", "phone_operator")
def api_transfer(h: Harness) -> Perform:
    return h.api(
        "POST",
        f"/api/v1/conversations/{conversation(h, 'waiting')}/transfer",
        "phone_operator",
        json={"topic": "anagrafe"},
    )


@scenario("POST", "/api/v1/conversations/<conversation_id:int>/return-to-bot", "operator")
def api_return(h: Harness) -> Perform:
    return h.api("POST", f"/api/v1/conversations/{conversation(h, 'assigned')}/return-to-bot", "operator")


@scenario("POST", "/api/v1/conversations/<conversation_id:int>/close", "service")
def api_close(h: Harness) -> Perform:
    return h.api("POST", f"/api/v1/conversations/{conversation(h)}/close", "service")


@scenario("POST", "/api/v1/conversations/<conversation_id:int>/messages", "operator", variant="reply")
def api_reply(h: Harness) -> Perform:
    return h.api(
        "POST",
        f"/api/v1/conversations/{conversation(h, 'assigned')}/messages",
        "operator",
        json={"text": "Buongiorno, come posso aiutarla?"},
    )


@scenario("POST", "/api/v1/conversations/<conversation_id:int>/messages", "phone_operator", variant="note")
def api_note(h: Harness) -> Perform:
    return h.api(
        "POST",
        f"/api/v1/conversations/{conversation(h, 'waiting')}/messages",
        "phone_operator",
        json={"text": "Già sentito al telefono", "private": True},
    )


ACTION = "/console/conversations/<conversation_id:int>/<action:str>"


@scenario("POST", ACTION, "operator", variant="take")
def console_take(h: Harness) -> Perform:
    return h.console(f"/console/conversations/{conversation(h, 'waiting')}/take", "operator")


@scenario("POST", ACTION, "operator", variant="reply")
def console_reply(h: Harness) -> Perform:
    return h.console(
        f"/console/conversations/{conversation(h, 'assigned')}/reply", "operator", {"text": "Le invio il link"}
    )


@scenario("POST", ACTION, "phone_operator", variant="note")
def console_note(h: Harness) -> Perform:
    return h.console(
        f"/console/conversations/{conversation(h, 'waiting')}/note", "phone_operator", {"text": "Richiamare"}
    )


@scenario("POST", ACTION, "operator", variant="transfer")
def console_transfer(h: Harness) -> Perform:
    return h.console(
        f"/console/conversations/{conversation(h, 'assigned')}/transfer", "operator", {"topic": "anagrafe"}
    )


@scenario("POST", ACTION, "operator", variant="return")
def console_return(h: Harness) -> Perform:
    return h.console(f"/console/conversations/{conversation(h, 'assigned')}/return", "operator")


@scenario("POST", ACTION, "admin", variant="close")
def console_close(h: Harness) -> Perform:
    return h.console(f"/console/conversations/{conversation(h, 'waiting')}/close", "admin")


def file_in(h: Harness, conversation_id: int) -> int:
    """A citizen's photo in the conversation (its description; the file itself is not read to attach it to a
    request)."""
    from crm.conversations.models import Conversation, Message

    async def work(s: Any) -> int:
        conv = await s.get(Conversation, conversation_id)
        m = Message(
            ente_id=h.ente.ente_id,
            conversation_id=conversation_id,
            channel=conv.channel,
            direction="in",
            author_kind="citizen",
            text="",
            attachments=[
                {"name": "buca.png", "content_type": "image/png", "size": 10, "sha256": "0" * 64, "key": "chat/x/y"}
            ],
        )
        s.add(m)
        await s.flush()
        return int(m.id)

    return h.setup(work)


@scenario("POST", ACTION, "operator", variant="attach")
def console_attach(h: Harness) -> Perform:
    from crm.conversations.models import Conversation

    conv_id = conversation(h, "assigned")
    message_id = file_in(h, conv_id)

    async def contact_of(s: Any) -> int:
        return int((await s.get(Conversation, conv_id)).contact_id)

    ticket = h.api(
        "POST",
        "/api/v1/requests",
        "operator",
        json={"contact_id": h.setup(contact_of), "kind": "report", "subject": "Buca", "channel": "web"},
    )()
    assert ticket.status_code == 201, ticket.text
    return h.console(
        f"/console/conversations/{conv_id}/attach",
        "operator",
        {"message_id": message_id, "index": 0, "target": f"request:{ticket.json()['id']}"},
    )
