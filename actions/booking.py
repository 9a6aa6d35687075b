"""Booking an appointment: the service, a free slot (buttons), the name and whatever the service's own form needs
(fiscal code, phone, e-mail), a summary to confirm; nothing is booked before the citizen's yes.

No traps: slots are offered from ``min_notice_hours`` ahead but online cancellation closes ``cancel_deadline_hours``
before the appointment, so a slot between the two could be booked and never cancelled online. The slots the citizen
can still cancel are offered first; one that cannot is marked as such, the summary warns before the yes, and the
confirmation says until when and how to cancel."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    ROME,
    apologise,
    latest_intent,
    latest_text,
    phrase,
    say,
    slot_label,
    text_for,
    urp_values,
    when_label,
)
from actions.crm_client import CrmUnavailable, Service, Slot, crm
from actions.dates import parse_day, part_of_day
from actions.knowledge import kb_before_dead_end
from actions.nlu_words import COURTESY, names_intent, own_words
from actions.turn import TurnAction, TurnFormValidation, turn_of
from channels.turn_token import Turn

# fields of a service's booking form (JSON Schema) the assistant knows how to ask for and check
EXTRA_FIELDS = {"fiscal_code": "booking_fiscal_code", "phone": "booking_phone", "email": "booking_email"}
EMAIL_RE = re.compile(r"^[\w.+-]+@[\w-]+(\.[\w-]+)+$")
ISO_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}")
STOP = {
    "per",
    "la",
    "il",
    "di",
    "un",
    "una",
    "del",
    "della",
    "prenotare",
    "prenota",
    "appuntamento",
    "vorrei",
    "voglio",
    "devo",
    "fare",
    "con",
    "mi",
    "serve",
}
ALIASES = {"cie": "carta identità", "identita": "identità", "identità": "identità", "palestra": "palestra"}
ANSWERED = "-"  # booking_service when the knowledge base answered the message that started the form: nothing is booked
ASK_KB = "?"  # booking_service when the form starts with a message that asks more than a booking and names no service
BOOKING_SLOTS = (
    "booking_service",
    "booking_service_id",
    "booking_start",
    "booking_name",
    "booking_day",
    "booking_extra",
    "booking_confirm",
    *EXTRA_FIELDS.values(),
    "requested_slot",
)
SHOWN = 5  # slot buttons offered at a time


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-zàèéìòù']+", text.lower()) if len(w) > 2 and w not in STOP}


def match_services(text: str, services: list[Service]) -> list[Service]:
    words = _words(text)
    words |= {ALIASES[w] for w in list(words) if w in ALIASES}
    scored = []
    for s in services:
        name_words = _words(s["name"] + " " + s["slug"].replace("-", " "))
        prefixes = sum(1 for w in words for n in name_words if len(w) > 4 and n.startswith(w[:5]))
        overlap = len(words & name_words) + prefixes
        if overlap:
            scored.append((overlap, s))
    if not scored:
        return []
    best = max(o for o, _ in scored)
    return [s for o, s in scored if o == best]


def service_buttons(services: list[Service]) -> list[dict[str, str]]:
    return [{"title": s["name"], "payload": s["slug"]} for s in services[:8]]


def slot_button(iso: str, domain: dict[str, Any] | None = None, *, late: bool = False) -> dict[str, str]:
    """A free slot as a button. The payload names the intent and carries the start as an entity, so the NLU never
    reads the ISO string (it saw seven dates in it); 49 bytes, under Telegram's 64 for callback data. A slot inside
    the cancellation window says so on the button itself."""
    title = slot_label(iso)
    if late:
        title = phrase(domain or {}, "utter_part_slot_not_cancellable", slot=title)
    return {"title": title, "payload": f'/inform{{"slot_time": "{iso}"}}'}


# --- the online-cancellation window -----------------------------------------------------------------------------------
def window_label(hours: int) -> str:
    """«24 ore», «1 ora», «3 giorni»."""
    if hours >= 48 and hours % 24 == 0:
        return f"{hours // 24} giorni"
    return "1 ora" if hours == 1 else f"{hours} ore"


def cancel_deadline(start: str, hours: int) -> datetime:
    """Until when the booking starting at ``start`` can be cancelled online (the CRM's rule: start minus the hours)."""
    return datetime.fromisoformat(start) - timedelta(hours=hours)


def cancellable_hours(svc: Service | None) -> int | None:
    hours = (svc or {}).get("cancel_deadline_hours")
    return int(hours) if hours is not None else None


def too_late_to_cancel(start: str, hours: int | None, now: datetime | None = None) -> bool:
    """Booked now, this slot could not be cancelled online any more (its deadline is already past)."""
    return hours is not None and cancel_deadline(start, hours) <= (now or datetime.now(ROME))


def offer(
    slots: list[Slot], hours: int | None, n: int, *, one_day: bool, now: datetime | None = None
) -> tuple[list[Slot], bool]:
    """The slots to offer and whether earlier ones were left out because they could not be cancelled online. The
    first available: only slots the citizen can still cancel, spread over days (the others when there are none).
    One day the citizen asked for: its cancellable slots first, then the others."""
    late = [s for s in slots if too_late_to_cancel(s["start"], hours, now)]
    fine = [s for s in slots if s not in late]
    if one_day:
        picks = (fine + late)[:n]
    else:
        picks = _spread(fine, n) or _spread(late, n)
    return picks, any(s not in picks for s in late) and bool(fine)


class ValidateBookingForm(TurnFormValidation):
    """The message that started the form, when it names no service, does not ask to book in so many words («prenotare»,
    «fissare»: actions/nlu_words.py) and says more than a request for an appointment ever does (a word none of the
    book_appointment examples uses: «devo vendere un terreno agricolo, serve il cdu?»), goes to the knowledge base
    first: a confident article is the answer and nothing is booked; otherwise the form asks for the service."""

    def name(self) -> str:
        return "validate_booking_form"

    async def extract_booking_service(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") is None and not tracker.get_slot("booking_service"):
            text = latest_text(tracker)
            if (
                latest_intent(tracker) == "book_appointment"
                and not text.startswith("/")
                and own_words(text, ("book_appointment", *COURTESY))
                and not names_intent(text, "book_appointment")
            ):
                return {"booking_service": ASK_KB}
        return {}

    async def validate_booking_service(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        latest = str(tracker.latest_message.get("text") or "").strip()
        try:
            services = await crm.services()
        except CrmUnavailable:
            apologise(dispatcher)
            return {"booking_service": None, "requested_slot": None}
        if value == ASK_KB:
            if not match_services(latest, services):
                turn = turn_of(tracker)
                answered = await kb_before_dead_end(dispatcher, tracker, turn) if turn is not None else None
                if answered is not None:
                    return {"booking_service": ANSWERED, **answered}
                return {"booking_service": None}  # the form asks for the service
            value = latest  # it names a service after all
        text = str(value or latest)
        # a button answers with the service's slug: that wins over whatever the NLU made of it as entities
        found = (
            [s for s in services if s["slug"] in (latest, text)]
            or match_services(text, services)
            or match_services(latest, services)
        )
        if len(found) == 1:
            required = (found[0].get("form_schema") or {}).get("required", [])
            return {
                "booking_service": found[0]["slug"],
                "booking_service_id": found[0]["id"],
                "booking_extra": [EXTRA_FIELDS[f] for f in required if f in EXTRA_FIELDS],
            }
        say(
            dispatcher,
            "utter_booking_which_of_these" if found else "utter_booking_which_service",
            buttons=service_buttons(found or services),
        )
        return {"booking_service": None}

    async def validate_booking_start(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        text = str(tracker.latest_message.get("text") or value or "")
        m = ISO_RE.search(text)
        if m:
            return {"booking_start": m.group(0)}
        # a day or a part of the day: offer the slots of that day
        return {"booking_start": None, "booking_day": text}

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[str]:
        """The service's own form decides what else to ask (fiscal code, phone, e-mail); the summary to confirm
        comes last."""
        if tracker.get_slot("booking_service") == ANSWERED:
            return []  # the knowledge base answered the message instead: the form ends, nothing is booked
        asked = [s for s in domain_slots if s != "booking_confirm"]
        return [*asked, *(tracker.get_slot("booking_extra") or []), "booking_confirm"]

    # extra slots are not in the domain's required_slots, so their text is picked up here when they are asked
    async def extract_booking_fiscal_code(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        return text_for(tracker, "booking_fiscal_code")

    async def extract_booking_phone(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        return text_for(tracker, "booking_phone")

    async def extract_booking_email(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        return text_for(tracker, "booking_email")

    async def validate_booking_fiscal_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        from stdnum.exceptions import ValidationError
        from stdnum.it import codicefiscale

        try:
            return {"booking_fiscal_code": codicefiscale.validate(str(value or ""))}
        except ValidationError:
            say(dispatcher, "utter_booking_fiscal_code_invalid")
            return {"booking_fiscal_code": None}

    async def validate_booking_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        import phonenumbers

        try:
            number = phonenumbers.parse(str(value or ""), "IT")
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            say(dispatcher, "utter_booking_phone_invalid")
            return {"booking_phone": None}
        return {"booking_phone": phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)}

    async def validate_booking_email(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        if not EMAIL_RE.match(text):
            say(dispatcher, "utter_booking_email_invalid")
            return {"booking_email": None}
        return {"booking_email": text.lower()}

    async def validate_booking_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        words = re.findall(r"[A-Za-zÀ-ÿ'’-]+", str(value or ""))
        if len(words) < 2:
            say(dispatcher, "utter_booking_name_invalid")
            return {"booking_name": None}
        return {"booking_name": " ".join(w.capitalize() for w in words[:4])}


class ActionAskBookingService(TurnAction):
    def name(self) -> str:
        return "action_ask_booking_service"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], turn: Turn
    ) -> list[EventType]:
        try:
            services = await crm.services()
        except CrmUnavailable:
            apologise(dispatcher)
            return []
        say(dispatcher, "utter_ask_booking_service", buttons=service_buttons(services))
        return []


def _spread(slots: list[Slot], n: int) -> list[Slot]:
    """First slot of each of the first days, so the choice is not five minutes apart on one morning."""
    seen: dict[str, Slot] = {}
    for s in slots:
        seen.setdefault(s["start"][:10], s)
    picks = list(seen.values())[:n]
    return picks if len(picks) >= min(n, 3) else slots[:n]


class ActionAskBookingStart(TurnAction):
    """Offer up to five free slots (buttons) on the day the citizen asked for, or the first available."""

    def name(self) -> str:
        return "action_ask_booking_start"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], turn: Turn
    ) -> list[EventType]:
        service_id = tracker.get_slot("booking_service_id")
        hint = str(tracker.get_slot("booking_day") or tracker.get_slot("date") or "")
        today = datetime.now(ROME).date()
        day = parse_day(hint, today) if hint else None
        part = part_of_day(hint) if hint else None
        try:
            hours = cancellable_hours(await crm.service(int(service_id)))
            slots = await crm.availability(
                int(service_id), (day or today).isoformat(), (day or today + timedelta(days=21)).isoformat()
            )
            if part == "morning":
                slots = [s for s in slots if int(s["start"][11:13]) < 13]
            elif part == "afternoon":
                slots = [s for s in slots if int(s["start"][11:13]) >= 13]
            if not slots and day:
                say(dispatcher, "utter_booking_day_full", day=day.strftime("%d/%m"))
                first = await crm.availability(
                    int(service_id), today.isoformat(), (today + timedelta(days=21)).isoformat()
                )
                picks, _ = offer(first, hours, SHOWN, one_day=False)
                if picks:
                    self._offer(dispatcher, domain, "utter_booking_which_time", picks, hours)
                return [SlotSet("booking_day", None), SlotSet("date", None)]
        except CrmUnavailable:
            apologise(dispatcher)
            return [SlotSet("requested_slot", None)]
        if not slots:
            say(dispatcher, "utter_booking_no_slots")
            return []
        picks, skipped = offer(slots, hours, SHOWN, one_day=day is not None)
        self._offer(
            dispatcher,
            domain,
            "utter_booking_first_slots_cancellable" if skipped else "utter_booking_first_slots",
            picks,
            hours,
        )
        return []

    @staticmethod
    def _offer(
        dispatcher: CollectingDispatcher, domain: dict[str, Any], response: str, picks: list[Slot], hours: int | None
    ) -> None:
        """The slot buttons; the warning first when any of them could not be cancelled online."""
        late = [too_late_to_cancel(s["start"], hours) for s in picks]
        window = window_label(hours or 0)
        if any(late):
            say(dispatcher, "utter_booking_late_slots", window=window)
        say(
            dispatcher,
            response,
            window=window,
            buttons=[slot_button(s["start"], domain, late=x) for s, x in zip(picks, late, strict=True)],
        )


class ActionAskBookingConfirm(TurnAction):
    """The summary of what is about to be booked, with Sì/No: nothing is booked without the citizen's yes."""

    def name(self) -> str:
        return "action_ask_booking_confirm"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], turn: Turn
    ) -> list[EventType]:
        try:
            svc = await crm.service(int(tracker.get_slot("booking_service_id")))
        except CrmUnavailable:
            svc = None
        name = svc["name"] if svc else str(tracker.get_slot("booking_service") or "")
        start = str(tracker.get_slot("booking_start"))
        extras = [
            phrase(domain, f"utter_part_summary_{slot}", value=tracker.get_slot(slot))
            for slot in EXTRA_FIELDS.values()
            if tracker.get_slot(slot)
        ]
        say(
            dispatcher,
            "utter_booking_summary",
            service=name,
            when=slot_label(start),
            name=tracker.get_slot("booking_name"),
            extras="".join(f"\n{x}" for x in extras),
            cancel=await cancel_terms(domain, "summary", start, cancellable_hours(svc)),
        )
        return []


async def cancel_terms(domain: dict[str, Any], part: str, start: str, hours: int | None, code: str = "") -> str:
    """How and until when the booking can be cancelled, as a part (``summary``, ``done``) of the summary or of the
    confirmation: online until the deadline, or, inside the window, only by calling the URP."""
    if hours is None:
        return ""
    if not too_late_to_cancel(start, hours):
        deadline = cancel_deadline(start, hours)
        return phrase(domain, f"utter_part_{part}_cancel_online", deadline=when_label(deadline.isoformat()), code=code)
    contacts = urp_values(await crm.urp_contacts())
    response = f"utter_part_{part}_cancel_by_phone{'' if contacts['urp_phone'] else '_no_phone'}"
    return phrase(domain, response, window=window_label(hours), **contacts)


async def _free_resource(service_id: int, start: str) -> int | None:
    """On a resource calendar (an official, a room) the citizen gets the first one free at that time."""
    wanted = datetime.fromisoformat(start)
    slots = await crm.availability(service_id, start[:10], start[:10])
    return next(
        (
            s["resource_id"]
            for s in slots
            if s.get("resource_id") is not None and datetime.fromisoformat(s["start"]) == wanted
        ),
        None,
    )


async def _remember_who(contact_id: int, fields: dict[str, Any]) -> None:
    """The name and details the citizen confirmed are theirs: the CRM fills the contact's empty ones (an operator
    resolves any that differ), so nobody types them again. A failure here never spoils the booking's answer."""
    try:
        await crm.capture_identity(contact_id, fields)
    except CrmUnavailable:
        pass


class ActionBook(TurnAction):
    def name(self) -> str:
        return "action_book"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], turn: Turn
    ) -> list[EventType]:
        reset = [SlotSet(s, None) for s in BOOKING_SLOTS]
        if tracker.get_slot("booking_service") == ANSWERED:
            return reset  # the knowledge base answered the message that started the form
        if not tracker.get_slot("booking_confirm"):
            say(dispatcher, "utter_booking_not_booked")
            return reset
        first, _, last = str(tracker.get_slot("booking_name") or "").partition(" ")
        fields = {"first_name": first, "last_name": last}
        fields |= {name: tracker.get_slot(slot) for name, slot in EXTRA_FIELDS.items() if tracker.get_slot(slot)}
        service_id, start = int(tracker.get_slot("booking_service_id")), str(tracker.get_slot("booking_start"))
        try:  # the key names the service too: the same hour of another service, in the same chat, is another booking
            booked = await crm.book(
                service_id=service_id,
                start=start,
                contact_id=turn.contact_id,
                fields=fields,
                channel=turn.channel,
                resource_id=await _free_resource(service_id, start),
                idempotency_key=f"rasa-{tracker.sender_id}-{service_id}-{start}",
            )
        except CrmUnavailable:
            apologise(dispatcher)
            return reset
        await _remember_who(turn.contact_id, fields)
        if booked.ok and booked.body is not None:
            b = booked.body
            bring = (
                phrase(domain, "utter_part_what_to_bring", what=b["what_to_bring"]) if b.get("what_to_bring") else ""
            )
            try:
                hours = cancellable_hours(await crm.service(service_id))
            except CrmUnavailable:
                hours = None  # booked all the same: the confirmation goes out without the cancellation terms
            say(
                dispatcher,
                "utter_booking_done",
                service=b.get("service_name") or "",
                when=slot_label(b["start"]),
                code=b["code"],
                bring=bring,
                cancel=await cancel_terms(domain, "done", b["start"], hours, code=b["code"]),
            )
        elif booked.status == 409:
            say(dispatcher, "utter_booking_slot_taken")
        else:
            say(dispatcher, "utter_booking_refused")
        return reset
