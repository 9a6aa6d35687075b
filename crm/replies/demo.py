"""The demo's quick replies (the five texts the composer offered before they could be written in the console, and
one for a topic); idempotent by shortcut."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crm.offices.models import Topic
from crm.replies import service
from crm.replies.models import QuickReply
from crm.replies.schemas import QuickReplyIn

REPLIES = [
    ("ciao", "Saluto", "Buongiorno, sono un operatore dell'URP: come posso aiutarla?", None),
    ("link", "Link alla pagina informativa", "Le invio il link alla pagina con tutte le informazioni.", None),
    (
        "verifico",
        "Verifico con l'ufficio",
        "Grazie per la pazienza, verifico con l'ufficio competente e le rispondo a breve.",
        None,
    ),
    (
        "registrata",
        "Richiesta registrata",
        "La richiesta è stata registrata. Riceverà un messaggio a ogni aggiornamento.",
        None,
    ),
    ("grazie", "Congedo", "Grazie a lei, buona giornata!", None),
    (
        "cie",
        "Carta d'identità: appuntamento",
        "La carta d'identità elettronica si richiede all'anagrafe su appuntamento: porti una fototessera recente e "
        "il documento scaduto. Può prenotare da qui o dal sito del Comune.",
        "anagrafe",
    ),
]


async def seed(session: Any, ente: Any) -> list[str]:
    have = set((await session.scalars(select(QuickReply.shortcut).where(QuickReply.ente_id == ente.id))).all())
    topics = dict((await session.execute(select(Topic.slug, Topic.id).where(Topic.ente_id == ente.id))).all())
    made = 0
    for shortcut, title, text, topic in REPLIES:
        if shortcut in have:
            continue
        await service.create(
            session,
            ente_id=ente.id,
            data=QuickReplyIn(shortcut=shortcut, title=title, text=text, topic_id=topics.get(topic) if topic else None),
        )
        made += 1
    return [f"quick replies: {made} created"] if made else []
