"""Conversations and messages on every channel: the CRM owns them (bot mode, waiting, assigned, closed)."""

from __future__ import annotations

from typing import Any


def setup(app: Any) -> None:
    from crm.conversations.escalation import escalate_due
    from crm.scheduler import register, served

    async def chat_sla(app: Any) -> None:
        """Handed-off chats past their first-response time: escalated once, to the supervisors' workspace."""
        for ente_id in served(app):
            await escalate_due(app, ente_id=ente_id)

    register("chat-sla", chat_sla)
