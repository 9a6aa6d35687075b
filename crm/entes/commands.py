"""Changes to the ente's own settings: permission, service call, audit line, live event."""

from __future__ import annotations

from crm.core.commands import Context, Policy, command
from crm.entes import service as svc
from crm.entes.models import Ente

SETTINGS = Policy("change the ente's settings (office hours, patron day)", roles=("admin",))


@command(SETTINGS)
async def set_office_hours(cx: Context, *, office_hours: str, patron_day: str | None) -> Ente:
    """The office hours and patron day used at once by the SLA clock and the assistant's handoff."""
    ente = await svc.set_office_hours(cx.session, ente_id=cx.ente_id, office_hours=office_hours, patron_day=patron_day)
    await cx.record("update", "ente", ente.id, details={"office_hours": office_hours, "patron_day": patron_day})
    return ente


@command(SETTINGS)
async def set_chat_targets(cx: Context, *, minutes: int, per_topic: dict[int, int | None]) -> Ente:
    """The first-response target of handed-off chats, for the ente and per topic (in minutes of office time)."""
    ente = await svc.set_chat_targets(cx.session, ente_id=cx.ente_id, minutes=minutes, per_topic=per_topic)
    await cx.record(
        "update",
        "ente",
        ente.id,
        details={"chat_first_response_minutes": minutes, "per_topic": {str(k): v for k, v in per_topic.items()}},
    )
    return ente
