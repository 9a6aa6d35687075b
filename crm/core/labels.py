"""The one place where stored values become what citizens and operators read: every enum value in Italian, and
every time on the ente's wall clock in Italian format.

Screens (the console's ``it`` and ``local`` filters), PDFs, e-mail and SMS all call these, so a new status gets its
Italian word once and no English value or UTC time reaches a screen or a sheet of paper. The tests scan rendered
pages for the English values listed here (``english_values``)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

LABELS: dict[str, dict[str, str]] = {
    "channel": {
        "web": "Web chat",
        "sms": "SMS",
        "telegram": "Telegram",
        "email": "E-mail",
        "phone": "Telefono",
        "counter": "Sportello",
        "sportello": "Sportello digitale",
        "appio": "App IO",
    },
    "mode": {"bot": "Con l'assistente", "waiting": "In attesa", "assigned": "In carico", "closed": "Chiusa"},
    "ticket_status": {
        "new": "Nuova",
        "in_charge": "In carico",
        "waiting_citizen": "Attesa cittadino",
        "resolved": "Risolta",
        "closed": "Chiusa",
        "rejected": "Respinta",
    },
    "ticket_kind": {"information": "Informazione", "report": "Segnalazione", "complaint": "Reclamo", "other": "Altro"},
    "priority": {"bassa": "Bassa", "media": "Media", "alta": "Alta"},
    "booking_status": {
        "confirmed": "Confermata",
        "cancelled": "Annullata",
        "attended": "Presentato",
        "no_show": "Non presentato",
    },
    "instance_status": {
        "submitted": "Presentata",
        "protocolled": "Protocollata",
        "in_charge": "In carico",
        "integration_requested": "Integrazione richiesta",
        "integrated": "Integrata",
        "accepted": "Accolta",
        "rejected": "Respinta",
        "withdrawn": "Ritirata",
    },
    "role": {
        "admin": "Amministratore",
        "operator": "Operatore URP",
        "phone_operator": "Operatore telefonico",
        "backoffice": "Back-office degli uffici",
    },
    "kb_status": {"draft": "Bozza", "published": "Pubblicata", "archived": "Archiviata"},
    # a message's delivery, as the operator reads it beside an outgoing message
    "delivery": {
        "received": "ricevuto",
        "pending": "in invio",
        "queued": "in invio",
        "sent": "inviato",
        "delivered": "consegnato",
        "read": "letto",
        "failed": "non consegnato",
        "note": "nota interna",
    },
    # a contact's details, as a conflict between the contact and what the citizen gave names them
    "contact_field": {
        "first_name": "Nome",
        "last_name": "Cognome",
        "fiscal_code": "Codice fiscale",
        "phone": "Telefono",
        "email": "E-mail",
    },
    # who wrote or did something
    "author": {
        "bot": "assistente virtuale",
        "operator": "operatore",
        "citizen": "cittadino",
        "system": "sistema",
        "service": "assistente virtuale",
        "contact": "cittadino",
    },
}
WEEKDAYS = ["lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"]
MONTHS = [
    "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
]


def label(kind: str, value: str | None, default: str = "—") -> str:
    """The Italian word for ``value`` of enum ``kind``; an unknown value is shown as it is stored (free text such as
    a priority an admin typed), ``None`` or empty as ``default``."""
    if not value:
        return default
    return LABELS[kind].get(value, value)


def actor(name: str | None) -> str:
    """Who made a change, for a person to read: a service account's technical name ("service", "service:sportello":
    the assistant's or the sportello's token) is "sistema", as the requests' history says; a person's name as it is."""
    if not name:
        return "—"
    return "sistema" if name == "service" or name.startswith("service:") else name


def local(value: datetime | date | None, tz: ZoneInfo | str | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    """A stored time (UTC) on the ente's wall clock, in Italian format; a plain date as it is."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        zone = ZoneInfo(tz) if isinstance(tz, str) else tz
        if zone is not None:
            value = value.astimezone(zone) if value.tzinfo else value.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)
    return value.strftime(fmt)


def day(value: date | datetime) -> str:
    """A day as "lunedì 30/03/2026" (a local date or an already local time)."""
    return f"{WEEKDAYS[value.weekday()]} {value.strftime('%d/%m/%Y')}"


def validity(valid_from: date | str | None, valid_until: date | str | None) -> str:
    """An article's validity as "dal 01/05/2026 al 30/04/2027": dates or the ISO strings a version snapshot keeps."""

    def it(v: date | str) -> str:
        return (date.fromisoformat(v[:10]) if isinstance(v, str) else v).strftime("%d/%m/%Y")

    parts = ([f"dal {it(valid_from)}"] if valid_from else []) + ([f"al {it(valid_until)}"] if valid_until else [])
    return " ".join(parts) or "senza limiti"


def english_values() -> set[str]:
    """The stored values that must never be read on a screen or on paper (the tests' scan list): the English ones,
    i.e. every key whose label differs from it."""
    return {k for table in LABELS.values() for k, v in table.items() if k.lower() != v.lower()}
