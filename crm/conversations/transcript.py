"""A conversation's transcript, as the citizen reads it: by e-mail (text) or as PDF (the operator's export).

Only what the citizen saw: internal notes are never included. Times on the ente's wall clock in Italian format;
each line says who wrote it: the citizen, "Assistente virtuale", the operator by first name, or the Comune for the
system's notices (joined, closed...)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from fpdf import FPDF
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.contacts.models import Contact
from crm.conversations import service as svc
from crm.conversations.models import Conversation
from crm.core import labels
from crm.operators.models import Operator

# what the citizen reads when they ask for the transcript (web widget, SMS, Telegram)
SENT = "Le abbiamo inviato la trascrizione della conversazione all'indirizzo {email}."
ASK_EMAIL = "A quale indirizzo e-mail le inviamo la trascrizione?"
ASK_EMAIL_WORD = (
    "Per ricevere la trascrizione via e-mail risponda TRASCRIZIONE seguito dal suo indirizzo, per esempio: "
    "TRASCRIZIONE nome@esempio.it"
)
BAD_EMAIL = "L'indirizzo e-mail non sembra valido: lo controlli e riprovi."
NOTHING = "Non c'è ancora una conversazione da inviare: scriva prima la sua domanda."
TOO_SOON = (
    "Le abbiamo inviato la trascrizione di questa conversazione pochi minuti fa: potrà chiederne un'altra tra "
    "qualche minuto."
)
# SMS and Telegram: "TRASCRIZIONE" alone (to the contact's e-mail) or followed by an address
WORD_RE = re.compile(r"^\s*trascrizione\b[\s:,]*(?P<email>\S+@\S+?)?[\s.!]*$", re.IGNORECASE)


def masked(email: str) -> str:
    """An address the citizen did not type now, shown without its name: "m•••@example.it"."""
    name, _, domain = email.partition("@")
    return f"{name[:1]}•••@{domain}"


BOT = "Assistente virtuale"
SYSTEM = "Comune"
CITIZEN = "Cittadino"
STATE = {"bot": "con l'assistente virtuale", "waiting": "in attesa di un operatore", "assigned": "in corso"}


@dataclass(frozen=True)
class Line:
    at: str  # "01/12/2026 14:32", Rome time
    sender: str
    text: str


@dataclass(frozen=True)
class Transcript:
    ente_name: str
    conversation_id: int
    channel: str  # in Italian
    citizen: str
    started: str
    state: str  # "chiusa il 01/12/2026 15:02" | "in corso" ...
    lines: list[Line]

    def text(self) -> str:
        """The e-mail body."""
        head = [
            f"Trascrizione della conversazione con {self.ente_name}",
            f"Canale: {self.channel}",
            f"Iniziata il {self.started}; {self.state}.",
            "Orari nel fuso orario italiano.",
            "",
        ]
        body = [f"[{ln.at}] {ln.sender}:\n{ln.text}\n" for ln in self.lines]
        return "\n".join(head + body)


async def build(
    session: AsyncSession, *, ente_id: int, conversation_id: int, ente_name: str, tz: ZoneInfo
) -> Transcript:
    conv: Conversation = await svc.get(session, ente_id=ente_id, conversation_id=conversation_id)
    contact = await session.get(Contact, conv.contact_id)
    citizen = (f"{contact.first_name} {contact.last_name}".strip() if contact else "") or CITIZEN
    msgs = await svc.messages(session, ente_id=ente_id, conversation_id=conv.id, include_private=False)
    staff_ids = {m.author_operator_id for m in msgs if m.author_operator_id is not None}
    staff = (
        {o.id: o for o in (await session.scalars(select(Operator).where(Operator.id.in_(staff_ids)))).all()}
        if staff_ids
        else {}
    )
    lines = []
    for m in msgs:
        if m.private:  # never: the query leaves them out, and so does this
            continue
        if m.direction == "in":
            sender = citizen
        elif m.author_kind == "operator":
            named = str((m.payload or {}).get("author_name") or "")
            sender = named or svc.first_name(staff.get(m.author_operator_id or 0))
        elif m.author_kind == "system":
            sender = SYSTEM
        else:
            sender = BOT
        files = [f"[allegato: {a.get('name') or 'file'}]" for a in (m.attachments or []) if isinstance(a, dict)]
        text = "\n".join(part for part in (m.text, *files) if part)
        lines.append(Line(at=labels.local(m.created_at, tz), sender=sender, text=text))
    state = f"chiusa il {labels.local(conv.closed_at, tz)}" if conv.closed_at else STATE.get(conv.mode, "in corso")
    return Transcript(
        ente_name=ente_name,
        conversation_id=conv.id,
        channel=labels.label("channel", conv.channel),
        citizen=citizen,
        started=labels.local(conv.created_at, tz),
        state=state,
        lines=lines,
    )


def _latin(text: str) -> str:
    # the core PDF fonts are Latin-1 (as the istanza receipt): Italian accents stay, the rest is replaced
    return (
        text.replace("’", "'")
        .replace("«", '"')
        .replace("»", '"')
        .replace("…", "...")
        .replace("–", "-")
        .encode("latin-1", "replace")
        .decode("latin-1")
    )


def pdf(t: Transcript) -> bytes:
    doc = FPDF(format="A4")
    doc.set_title(_latin(f"Trascrizione della conversazione n. {t.conversation_id}"))
    doc.set_auto_page_break(auto=True, margin=15)
    doc.add_page()
    doc.set_font("Helvetica", "B", 16)
    doc.cell(0, 10, _latin(t.ente_name), new_x="LMARGIN", new_y="NEXT")
    doc.set_font("Helvetica", "", 12)
    doc.cell(0, 8, _latin("Trascrizione della conversazione"), new_x="LMARGIN", new_y="NEXT")
    doc.ln(2)
    for label, value in (
        ("Conversazione n.", str(t.conversation_id)),
        ("Canale", t.channel),
        ("Cittadino", t.citizen),
        ("Iniziata il", t.started),
        ("Stato", t.state),
    ):
        doc.set_font("Helvetica", "B", 10)
        doc.cell(45, 6, _latin(label))
        doc.set_font("Helvetica", "", 10)
        doc.multi_cell(0, 6, _latin(value), new_x="LMARGIN", new_y="NEXT")
    doc.set_font("Helvetica", "I", 9)
    doc.multi_cell(0, 5, _latin("Orari nel fuso orario italiano. Le note interne degli operatori non sono incluse."))
    doc.ln(3)
    if not t.lines:
        doc.set_font("Helvetica", "", 10)
        doc.multi_cell(0, 6, _latin("Nessun messaggio."), new_x="LMARGIN", new_y="NEXT")
    for ln in t.lines:
        doc.set_font("Helvetica", "B", 10)
        doc.multi_cell(0, 6, _latin(f"{ln.at} - {ln.sender}"), new_x="LMARGIN", new_y="NEXT")
        doc.set_font("Helvetica", "", 10)
        doc.multi_cell(0, 5, _latin(ln.text or "-"), new_x="LMARGIN", new_y="NEXT")
        doc.ln(2)
    return bytes(doc.output())
