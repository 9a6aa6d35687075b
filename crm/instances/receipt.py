"""The citizen's receipt (ricevuta) as PDF: code, protocol number, date, summary."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fpdf import FPDF


def _latin(text: str) -> str:
    # the core PDF fonts are Latin-1: keep Italian accents, replace what cannot be printed
    return text.replace("’", "'").replace("«", '"').replace("»", '"').encode("latin-1", "replace").decode("latin-1")


def render(*, ente_name: str, title: str, inst: Any, contact_name: str, tz: str) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(_latin(f"Ricevuta istanza {inst.code}"))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin(ente_name), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 12)
    pdf.cell(0, 8, _latin("Ricevuta di presentazione dell'istanza"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    when = inst.created_at.astimezone(ZoneInfo(tz)).strftime("%d/%m/%Y %H:%M")
    rows = [("Tipo di istanza", title), ("Codice", inst.code),
            ("Numero di protocollo", inst.protocol_number or "in corso di registrazione"),
            ("Presentata il", when), ("Richiedente", contact_name or "-"), ("Stato", inst.status)]
    if inst.deadline_at:
        rows.append(("Termine del procedimento", inst.deadline_at.astimezone(ZoneInfo(tz)).strftime("%d/%m/%Y")))
    for label, value in rows:
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(60, 8, _latin(label))
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(0, 8, _latin(str(value)), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 8, "Riepilogo", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for key, value in (inst.data or {}).items():
        pdf.multi_cell(0, 6, _latin(f"{key}: {value}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", "I", 9)
    pdf.multi_cell(0, 5, _latin("Conservi questa ricevuta. Con il codice dell'istanza può conoscerne lo stato "
                                "scrivendo all'assistente virtuale del Comune o all'URP."))
    return bytes(pdf.output())
