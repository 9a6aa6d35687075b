"""The GDPR export as a PDF the desk can hand to the citizen: the same content as the JSON export
(``gdpr.export``) without internal references, laid out as readable sections in Italian; the JSON export is the
complete machine-readable copy."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fpdf import FPDF

SECTIONS = {
    "conversations": "Conversazioni",
    "messages": "Messaggi delle conversazioni",
    "tickets": "Richieste",
    "bk_bookings": "Prenotazioni",
    "ist_instances": "Istanze",
    "notifications": "Avvisi inviati",
    "files": "File e foto (sono nell'archivio ZIP della copia in formato elettronico)",
}
CONTACT_FIELDS = [
    ("first_name", "Nome"),
    ("last_name", "Cognome"),
    ("fiscal_code", "Codice fiscale"),
    ("phones", "Telefoni"),
    ("emails", "E-mail"),
    ("identities", "Identità sui canali"),
    ("preferred_channel", "Canale preferito"),
    ("consent_privacy", "Consenso al trattamento"),
    ("consent_notifications", "Consenso agli avvisi"),
    ("verified_identity", "Identità verificata"),
    ("notes", "Note"),
    ("created_at", "Registrato il"),
]
# the rows' own columns, as the citizen reads them; internal references (ids of operators, resources...) are left out
COLUMNS = {
    "id": "Numero",
    "code": "Codice",
    "channel": "Canale",
    "mode": "Stato della conversazione",
    "kind": "Tipo",
    "subject": "Oggetto",
    "description": "Descrizione",
    "priority": "Priorità",
    "status": "Stato",
    "handoff_summary": "Sintesi per l'operatore",
    "start": "Inizio",
    "end": "Fine",
    "fields": "Dati del modulo",
    "data": "Dati dell'istanza",
    "protocol_number": "Numero di protocollo",
    "protocolled_at": "Protocollata il",
    "deadline_at": "Termine",
    "decided_at": "Decisa il",
    "address": "Indirizzo",
    "text": "Testo",
    "created_at": "Data",
    "taken_at": "Presa in carico il",
    "resolved_at": "Risolta il",
    "closed_at": "Chiusa il",
    "cancelled_at": "Annullata il",
    "sent_at": "Inviato il",
    "on_behalf": "Per suo conto",
    "filename": "Nome del file",
    "member": "Nell'archivio ZIP",
    "at": "Ricevuto il",
}


def _latin(text: str) -> str:
    # the core PDF fonts are Latin-1: keep Italian accents, replace what cannot be printed
    return (
        text.replace("’", "'")
        .replace("«", '"')
        .replace("»", '"')
        .replace("—", "-")
        .replace("–", "-")
        .encode("latin-1", "replace")
        .decode("latin-1")
    )


def _value(v: Any, tz: ZoneInfo | None = None) -> str:
    if isinstance(v, str) and tz is not None and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)?", v):
        at = datetime.fromisoformat(v)
        return (at.astimezone(tz) if at.tzinfo else at).strftime("%d/%m/%Y %H:%M")
    if v is True:
        return "sì"
    if v is False:
        return "no"
    if isinstance(v, list):
        return ", ".join(_value(x, tz) for x in v) or "-"
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_value(x, tz)}" for k, x in v.items()) or "-"
    return "-" if v in (None, "") else str(v)


def render(*, ente_name: str, data: dict[str, Any], tz: str = "Europe/Rome") -> bytes:
    zone = ZoneInfo(tz)
    pdf = FPDF(format="A4")
    pdf.set_title(_latin(f"Dati personali - contatto {data['contact']['id']}"))
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin(ente_name), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 12)
    pdf.multi_cell(
        0,
        7,
        _latin(
            "Copia dei dati personali trattati dall'Ufficio Relazioni con il Pubblico "
            "(art. 15 del Regolamento UE 2016/679)"
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(0, 6, _latin(f"Estratti il {_value(data.get('exported_at', ''), zone)}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    _heading(pdf, "Dati anagrafici e recapiti")
    contact = data["contact"]
    for key, label in CONTACT_FIELDS:
        value = contact.get(key)
        if key == "identities":
            value = [f"{i['channel']}: {i['external_id']}" for i in value or []]
        _row(pdf, label, _value(value, zone))
    for key, title in SECTIONS.items():
        rows = data.get(key) or []
        if not rows:
            continue
        _heading(pdf, f"{title} ({len(rows)})")
        for row in rows:
            if key == "messages":
                who = {"citizen": "cittadino", "bot": "assistente", "operator": "operatore"}.get(
                    row["author"], row["author"]
                )
                pdf.set_font("Helvetica", "", 9)
                pdf.multi_cell(
                    0, 5, _latin(f"{_value(row['at'], zone)} - {who}: {row['text']}"), new_x="LMARGIN", new_y="NEXT"
                )
                continue
            for k, label in COLUMNS.items():
                v = row.get(k)
                if v not in (None, "", [], {}):
                    _row(pdf, label, _value(v, zone))
            pdf.ln(2)
    pdf.ln(4)
    pdf.set_font("Helvetica", "I", 9)
    pdf.multi_cell(
        0,
        5,
        _latin(
            "Gli stessi dati, con i file e le foto, sono disponibili in formato elettronico (archivio ZIP). "
            "Per rettifiche o per chiedere la cancellazione si rivolga all'URP."
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, _latin(text), new_x="LMARGIN", new_y="NEXT")


def _row(pdf: FPDF, label: str, value: str) -> None:
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(50, 5, _latin(label[:40]))
    pdf.set_font("Helvetica", "", 9)
    pdf.multi_cell(0, 5, _latin(value[:4000]), new_x="LMARGIN", new_y="NEXT")
