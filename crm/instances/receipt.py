"""The citizen's receipt (ricevuta) as PDF: code, protocol number, date, summary."""

from __future__ import annotations

from datetime import date
from typing import Any

from fpdf import FPDF

from crm.core import labels


def _latin(text: str) -> str:
    # the core PDF fonts are Latin-1: keep Italian accents, replace what cannot be printed
    return text.replace("’", "'").replace("«", '"').replace("»", '"').encode("latin-1", "replace").decode("latin-1")


def answer(value: Any, spec: dict[str, Any]) -> str:
    """A form answer as the citizen reads it: dates in Italian format, yes/no, lists joined."""
    if isinstance(value, bool):
        return "sì" if value else "no"
    if isinstance(value, list):
        return ", ".join(answer(v, spec.get("items") or {}) for v in value)
    if isinstance(value, str) and spec.get("format") == "date":
        try:
            return date.fromisoformat(value).strftime("%d/%m/%Y")
        except ValueError:
            return value
    return "" if value is None else str(value)


def render(
    *, ente_name: str, title: str, inst: Any, contact_name: str, tz: str, schema: dict[str, Any] | None = None
) -> bytes:
    """``schema``: the type's form schema, whose field titles ("Documenti richiesti") label the summary, never the
    stored field names."""
    pdf = FPDF(format="A4")
    pdf.set_title(_latin(f"Ricevuta istanza {inst.code}"))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin(ente_name), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 12)
    pdf.cell(0, 8, _latin("Ricevuta di presentazione dell'istanza"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    when = labels.local(inst.created_at, tz)
    rows = [
        ("Tipo di istanza", title),
        ("Codice", inst.code),
        ("Numero di protocollo", inst.protocol_number or "in corso di registrazione"),
        ("Presentata il", when),
        ("Richiedente", contact_name or "-"),
        ("Stato", labels.label("instance_status", inst.status)),
    ]
    if inst.deadline_at:
        rows.append(("Termine del procedimento", labels.local(inst.deadline_at, tz, "%d/%m/%Y")))
    for label, value in rows:
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(60, 8, _latin(label))
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(0, 8, _latin(str(value)), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 8, "Riepilogo", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    fields = (schema or {}).get("properties") or {}
    for key, value in (inst.data or {}).items():
        spec = fields.get(key) or {}
        name = spec.get("title") or key.replace("_", " ").capitalize()
        pdf.multi_cell(0, 6, _latin(f"{name}: {answer(value, spec)}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", "I", 9)
    pdf.multi_cell(
        0,
        5,
        _latin(
            "Conservi questa ricevuta. Con il codice dell'istanza può conoscerne lo stato "
            "scrivendo all'assistente virtuale del Comune o all'URP."
        ),
    )
    return bytes(pdf.output())
