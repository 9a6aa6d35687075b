"""What the flows share: saying a domain response, codes and second factors, dates as citizens read them.

Every citizen-facing text lives in ``bot/domain.yml`` under ``responses`` (Rasa's convention, ``{variables}`` filled
from what the action passes): the actions pick a response and hand it the values, so wording changes without
touching Python. ``phrase`` renders a response into a piece of a longer message (a list line, a state's label)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.crm_client import Desk, crm
from channels.turn_token import Turn

_VARIABLE = re.compile(r"{([^\n{}]+?)}")


def say(
    dispatcher: CollectingDispatcher, response: str, *, buttons: list[dict[str, str]] | None = None, **values: Any
) -> None:
    """Send the domain response ``response`` with ``values`` for its variables (Rasa renders it)."""
    dispatcher.utter_message(response=response, buttons=buttons or [], **{k: _text(v) for k, v in values.items()})


def phrase(domain: dict[str, Any], response: str, **values: Any) -> str:
    """A domain response's text with its variables filled, as Rasa fills them, to compose a longer message."""
    variants = (domain.get("responses") or {}).get(response) or [{"text": response}]
    return fill(str(variants[0].get("text") or ""), values)


def fill(template: str, values: dict[str, Any]) -> str:
    return _VARIABLE.sub(lambda m: _text(values.get(m.group(1), m.group(0))), template)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def button(domain: dict[str, Any], response: str, payload: str, **values: Any) -> dict[str, str]:
    """A button whose title is a domain response (``utter_button_*``)."""
    return {"title": phrase(domain, response, **values), "payload": payload}


# --- the URP's own contacts come from the ente (GET /desk), never from this code ------------------------------------
def urp_values(desk: Desk | None) -> dict[str, str]:
    urp = (desk or {}).get("urp") or {}
    return {
        "urp_phone": urp.get("phone") or "",
        "urp_email": urp.get("email") or "",
        "urp_hours": (desk or {}).get("office_hours") or "",
    }


async def say_with_urp(dispatcher: CollectingDispatcher, response: str, **values: Any) -> None:
    """``response`` quotes the URP's phone (``{urp_phone}``); without a known phone its ``_no_phone`` twin is said."""
    contacts = urp_values(await crm.urp_contacts())
    say(dispatcher, response if contacts["urp_phone"] else f"{response}_no_phone", **contacts, **values)


def apologise(dispatcher: CollectingDispatcher) -> None:
    """The CRM is down, failing or slow: the request is not lost; the phone is the last one the desk gave."""
    contacts = urp_values(crm.last_desk)
    say(dispatcher, "utter_crm_unavailable" if contacts["urp_phone"] else "utter_crm_unavailable_no_phone", **contacts)


# --- codes and second factors -----------------------------------------------------------------------------------
CODE_RE = re.compile(r"\b[A-Za-z]{2}-[A-Za-z0-9]{5,6}\b")
CF_RE = re.compile(r"^[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]$")


def code_kind(code: str) -> str:
    """RQ- requests and segnalazioni, IS- istanze; any other two letters are a booking's service (AN-7K3P9)."""
    return {"RQ-": "request", "IS-": "istanza"}.get(code.upper()[:3], "booking")


def code_in(tracker: Tracker) -> str | None:
    """A code in the latest message, as an entity or in the text."""
    entity = next((e["value"] for e in tracker.latest_message.get("entities", []) if e.get("entity") == "code"), None)
    found = CODE_RE.search(str(entity or "")) or CODE_RE.search(str(tracker.latest_message.get("text") or ""))
    return found.group(0).upper() if found else None


def second_factor_of(value: Any) -> str | None:
    """The last 4 digits of a phone number, or a whole fiscal code; None when the text is neither."""
    text = re.sub(r"[\s.-]", "", str(value or "")).upper()
    if re.fullmatch(r"\+?\d{4,15}", text):
        return text[-4:]
    if CF_RE.match(text):
        return text
    return None


def caller_key(tracker: Tracker, turn: Turn) -> str:
    """Who is asking, for the CRM's per-caller throttle of look-ups (it stores only a digest)."""
    return f"{turn.channel}:{tracker.sender_id}"


def latest_text(tracker: Tracker) -> str:
    return str(tracker.latest_message.get("text") or "").strip()


def latest_intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def asks_operator(tracker: Tracker) -> bool:
    """Asking for an operator is never an answer to a form's question (rules.yml hands off instead)."""
    return latest_intent(tracker) == "human_handoff"


def asks_question(tracker: Tracker) -> bool:
    """A question in the middle of a form is answered, then the form asks again (rules.yml): it is not the answer."""
    return latest_intent(tracker) == "ask_info"


def text_for(tracker: Tracker, slot: str) -> dict[str, Any]:
    """The citizen's latest message fills ``slot`` only while the form is asking for it."""
    if tracker.get_slot("requested_slot") != slot or asks_operator(tracker) or asks_question(tracker):
        return {}
    return {slot: tracker.latest_message.get("text")}


# --- dates and times, in the ente's zone ------------------------------------------------------------------------------
ROME = ZoneInfo("Europe/Rome")  # the zone the CRM writes its times in (ISO with offset): only for "today"
WEEKDAYS_IT = ["lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"]
DAYS_IT = ["lun", "mar", "mer", "gio", "ven", "sab", "dom"]
MONTHS_IT = [
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


def slot_label(iso: str) -> str:
    """«gio 03/12 ore 09:00» from an ISO start with its offset (the ente's local time, as the CRM gives it). In the
    hour the clocks repeat in autumn the two readings are told apart: «ore 02:30 (ora legale)», «(ora solare)»."""
    d = datetime.fromisoformat(iso)
    label = f"{DAYS_IT[d.weekday()]} {d:%d/%m} ore {d:%H:%M}"
    local = d.astimezone(ROME)
    first = datetime.combine(local.date(), local.time().replace(fold=0), ROME)
    if first.utcoffset() != first.replace(fold=1).utcoffset():
        label += " (ora legale)" if local.dst() else " (ora solare)"
    return label


def when_label(iso: str, now: datetime | None = None) -> str:
    """«oggi alle 8:00», «domani alle 8:30», «lunedì 24 novembre alle 8:30» (the time's own offset)."""
    at = datetime.fromisoformat(iso)
    today = (now or datetime.now(at.tzinfo)).astimezone(at.tzinfo).date()
    hour = f"{at.hour}:{at.minute:02d}"
    if at.date() == today:
        return f"oggi alle {hour}"
    if (at.date() - today).days == 1:
        return f"domani alle {hour}"
    return f"{WEEKDAYS_IT[at.weekday()]} {at.day} {MONTHS_IT[at.month - 1]} alle {hour}"


def day_label(iso: str) -> str:
    """«03/12/2026» from an ISO date or date-time."""
    return f"{iso[8:10]}/{iso[5:7]}/{iso[:4]}"


def booking_label(b: dict[str, Any]) -> str:
    """«Rilascio carta d'identità, gio 03/12 ore 09:00» from a booking as the API returns it."""
    when = slot_label(b["start"])
    return f"{b['service_name']}, {when}" if b.get("service_name") else when
