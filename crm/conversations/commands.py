"""The operators' and the assistant's changes to a conversation, one function each: permission, service call, audit
line, live event (and, after commit, the signal that makes the channel hub send a stored reply).

The hub's own recording of citizens' and the bot's messages (``service.record_inbound``/``record_outbound``) is the
message pipeline, not a user's change, and stays with the hub.
"""

from __future__ import annotations

from typing import Any

from crm.conversations import policies
from crm.conversations import service as svc
from crm.conversations.models import Conversation, Message
from crm.core.commands import Context, command
from crm.core.errors import Conflict, Forbidden
from crm.offices import service as offices

OUTBOUND_SIGNAL = "urp.message.outbound"  # the hub sends the stored message and records the outcome


async def _changed(cx: Context, conv: Conversation, action: str, signal: str | None = None) -> None:
    topic = (await offices.get_topic(cx.session, ente_id=cx.ente_id, topic_id=conv.topic_id)).slug \
        if conv.topic_id else None
    await cx.record(action, "conversation", conv.id,
                    event={"type": "conversation", "mode": conv.mode, "topic": topic})
    if signal and cx.app is not None:
        app, context = cx.app, {"ente_id": cx.ente_id, "conversation_id": conv.id}
        cx.after_commit(lambda: app.dispatch(signal, context=context, fail_not_found=False))


@command(policies.HANDOFF)
async def handoff(cx: Context, *, conversation_id: int, topic: str | None, summary: str = "",
                  context: dict[str, Any] | None = None) -> Conversation:
    """Put the conversation in the operators' queue with the assistant's summary (a repeat changes nothing)."""
    before = (await svc.get(cx.session, ente_id=cx.ente_id, conversation_id=conversation_id)).mode
    conv = await svc.handoff(cx.session, ente_id=cx.ente_id, conversation_id=conversation_id, topic_slug=topic,
                             summary=summary, context=context or {})
    if before != "waiting":
        await _changed(cx, conv, "handoff", "urp.conversation.handoff")
    return conv


@command(policies.HANDLE)
async def take(cx: Context, *, conversation_id: int) -> Conversation:
    operator_id = cx.principal.operator_id
    if operator_id is None:
        raise Forbidden("only an operator can take a conversation")
    before = await svc.get(cx.session, ente_id=cx.ente_id, conversation_id=conversation_id)
    already = before.mode == "assigned" and before.assignee_id == operator_id
    conv = await svc.take(cx.session, ente_id=cx.ente_id, conversation_id=conversation_id, operator_id=operator_id)
    if not already:
        await _changed(cx, conv, "take", "urp.conversation.take")
    return conv


@command(policies.HANDLE)
async def transfer(cx: Context, *, conversation_id: int, topic: str | None, operator_id: int | None = None
                   ) -> Conversation:
    """To another topic's queue, or straight to an operator."""
    conv = await svc.transfer(cx.session, ente_id=cx.ente_id, conversation_id=conversation_id, topic_slug=topic,
                              operator_id=operator_id)
    await _changed(cx, conv, "transfer", "urp.conversation.transfer")
    return conv


@command(policies.HANDLE)
async def return_to_bot(cx: Context, *, conversation_id: int) -> Conversation:
    conv = await svc.return_to_bot(cx.session, ente_id=cx.ente_id, conversation_id=conversation_id)
    await _changed(cx, conv, "return_to_bot", "urp.conversation.returntobot")
    return conv


@command(policies.CLOSE)
async def close(cx: Context, *, conversation_id: int) -> Conversation:
    """Close it; the citizen's next message opens a new one (closing a closed one changes nothing)."""
    before = (await svc.get(cx.session, ente_id=cx.ente_id, conversation_id=conversation_id)).mode
    conv = await svc.close(cx.session, ente_id=cx.ente_id, conversation_id=conversation_id)
    if before != "closed":
        await _changed(cx, conv, "close", "urp.conversation.close")
    return conv


async def _message(cx: Context, conversation_id: int, text: str, *, private: bool) -> Message:
    conv = await svc.get(cx.session, ente_id=cx.ente_id, conversation_id=conversation_id, lock=True)
    msg = await svc.record_outbound(cx.session, conv=conv, text=text, author_kind="operator",
                                    operator_id=cx.principal.operator_id, private=private)
    await cx.record("note" if private else "reply", "conversation", conv.id, details={"message_id": msg.id},
                    event={"type": "message", "conversation_id": conv.id, "message_id": msg.id})
    if not private and cx.app is not None:
        app, context = cx.app, {"ente_id": cx.ente_id, "message_id": msg.id}
        cx.after_commit(lambda: app.dispatch(OUTBOUND_SIGNAL, context=context, fail_not_found=False))
    return msg


@command(policies.HANDLE)
async def reply(cx: Context, *, conversation_id: int, text: str) -> Message:
    """A reply on the citizen's channel: stored now, sent by the hub after commit. Only the operator holding the
    conversation replies (an admin may step in)."""
    conv = await svc.get(cx.session, ente_id=cx.ente_id, conversation_id=conversation_id)
    if conv.mode == "closed":
        raise Conflict("conversation is closed")
    mine = conv.mode == "assigned" and conv.assignee_id == cx.principal.operator_id
    if not mine and cx.principal.role != "admin":
        raise Forbidden("take the conversation before replying")
    return await _message(cx, conversation_id, text, private=False)


@command(policies.HANDLE)
async def note(cx: Context, *, conversation_id: int, text: str) -> Message:
    """An internal note: operators see it, the citizen never does."""
    return await _message(cx, conversation_id, text, private=True)
