"""Booking, cancellation and istanza flows of the assistant (forms validated here, back office over HTTP)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.actions import (
    APOLOGY,
    BOOKING_STATUS_IT,
    CODE_RE,
    ROME,
    SECOND_FACTOR_HELP,
    TOO_MANY_TRIES,
    booking_label,
    caller_key,
    code_kind,
    crm,
    meta,
    second_factor_of,
    slot_label,
)
from actions.crm_client import CrmUnavailable
from actions.dates import parse_day, part_of_day
from actions.turn import TurnAction, TurnFormValidation
from channels.turn_token import Turn

# fields of a service's booking form (JSON Schema) the assistant knows how to ask for and check
EXTRA_FIELDS = {"fiscal_code": "booking_fiscal_code", "phone": "booking_phone", "email": "booking_email"}
EMAIL_RE = re.compile(r"^[\w.+-]+@[\w-]+(\.[\w-]+)+$")
ISO_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}")
STOP = {"per", "la", "il", "di", "un", "una", "del", "della", "prenotare", "prenota", "appuntamento", "vorrei",
        "voglio", "devo", "fare", "con", "mi", "serve"}


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-zàèéìòù']+", text.lower()) if len(w) > 2 and w not in STOP}


def match_services(text: str, services: list[dict[str, Any]]) -> list[dict[str, Any]]:
    words = _words(text)
    aliases = {"cie": "carta identità", "identita": "identità", "identità": "identità", "palestra": "palestra"}
    words |= {aliases[w] for w in list(words) if w in aliases}
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


def _text_for(tracker: Tracker, slot: str) -> dict[str, Any]:
    """The citizen's latest message fills ``slot`` only while the form is asking for it."""
    if tracker.get_slot("requested_slot") != slot or _asks_operator(tracker):
        return {}
    return {slot: tracker.latest_message.get("text")}


def _asks_operator(tracker: Tracker) -> bool:
    """Asking for an operator is never an answer to the form's question (rules.yml hands off instead)."""
    return tracker.latest_message.get("intent", {}).get("name") == "human_handoff"


def slot_button(iso: str) -> dict[str, str]:
    """A free slot as a button. The payload names the intent and carries the start as an entity, so the NLU never
    reads the ISO string (it saw seven dates in it); 49 bytes, under Telegram's 64 for callback data."""
    return {"title": slot_label(iso), "payload": f'/inform{{"slot_time": "{iso}"}}'}


class ValidateBookingForm(TurnFormValidation):
    def name(self) -> str:
        return "validate_booking_form"

    async def validate_booking_service(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                       domain: dict[str, Any]) -> dict[str, Any]:
        text = str(value or tracker.latest_message.get("text") or "")
        try:
            status, body = await crm.request("GET", "/services")
        except CrmUnavailable:
            dispatcher.utter_message(text=APOLOGY)
            return {"booking_service": None, "requested_slot": None}
        services = body.get("items", []) if status == 200 else []
        # a button answers with the service's slug: that wins over whatever the NLU made of it as entities
        latest = str(tracker.latest_message.get("text") or "").strip()
        found = ([s for s in services if s["slug"] in (latest, text)] or match_services(text, services)
                 or match_services(latest, services))
        if len(found) == 1:
            required = (found[0].get("form_schema") or {}).get("required", [])
            return {"booking_service": found[0]["slug"], "booking_service_id": found[0]["id"],
                    "booking_extra": [EXTRA_FIELDS[f] for f in required if f in EXTRA_FIELDS]}
        options = found or services
        dispatcher.utter_message(text="Per quale servizio desidera l'appuntamento?" if not found else
                                 "Ho trovato più servizi: quale le serve?",
                                 buttons=[{"title": s["name"], "payload": s["slug"]} for s in options[:8]])
        return {"booking_service": None}

    async def validate_booking_start(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                     domain: dict[str, Any]) -> dict[str, Any]:
        text = str(tracker.latest_message.get("text") or value or "")
        m = ISO_RE.search(text)
        if m:
            return {"booking_start": m.group(0)}
        # a day or a part of the day: offer the slots of that day
        return {"booking_start": None, "booking_day": text}

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: dict[str, Any]) -> list[str]:
        """The service's own form decides what else to ask (fiscal code, phone, e-mail); the summary to confirm
        comes last."""
        asked = [s for s in domain_slots if s != "booking_confirm"]
        return [*asked, *(tracker.get_slot("booking_extra") or []), "booking_confirm"]

    # extra slots are not in the domain's required_slots, so their text is picked up here when they are asked
    async def extract_booking_fiscal_code(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                          domain: dict[str, Any]) -> dict[str, Any]:
        return _text_for(tracker, "booking_fiscal_code")

    async def extract_booking_phone(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: dict[str, Any]) -> dict[str, Any]:
        return _text_for(tracker, "booking_phone")

    async def extract_booking_email(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: dict[str, Any]) -> dict[str, Any]:
        return _text_for(tracker, "booking_email")

    async def validate_booking_fiscal_code(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                           domain: dict[str, Any]) -> dict[str, Any]:
        from stdnum.exceptions import ValidationError
        from stdnum.it import codicefiscale

        try:
            return {"booking_fiscal_code": codicefiscale.validate(str(value or ""))}
        except ValidationError:
            dispatcher.utter_message(text="Questo codice fiscale non risulta valido: controlli le 16 lettere e cifre "
                                          "(lo trova sulla tessera sanitaria) e me lo riscriva.")
            return {"booking_fiscal_code": None}

    async def validate_booking_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                     domain: dict[str, Any]) -> dict[str, Any]:
        import phonenumbers

        try:
            number = phonenumbers.parse(str(value or ""), "IT")
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            dispatcher.utter_message(text="Il numero non sembra valido. Me lo scrive per intero, ad esempio "
                                          "347 123 4567?")
            return {"booking_phone": None}
        return {"booking_phone": phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)}

    async def validate_booking_email(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                     domain: dict[str, Any]) -> dict[str, Any]:
        text = str(value or "").strip()
        if not EMAIL_RE.match(text):
            dispatcher.utter_message(text="L'indirizzo e-mail non sembra corretto: me lo riscrive? "
                                          "(ad esempio nome.cognome@esempio.it)")
            return {"booking_email": None}
        return {"booking_email": text.lower()}

    async def validate_booking_name(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: dict[str, Any]) -> dict[str, Any]:
        words = re.findall(r"[A-Za-zÀ-ÿ'’-]+", str(value or ""))
        if len(words) < 2:
            dispatcher.utter_message(text="Mi scriva per favore nome e cognome, ad esempio «Maria Rossi».")
            return {"booking_name": None}
        return {"booking_name": " ".join(w.capitalize() for w in words[:4])}


class ActionAskBookingStart(TurnAction):
    """Offer up to five free slots (buttons) on the day the citizen asked for, or the first available."""

    def name(self) -> str:
        return "action_ask_booking_start"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any],
                  turn: Turn) -> list[EventType]:
        service_id = tracker.get_slot("booking_service_id")
        hint = str(tracker.get_slot("booking_day") or tracker.get_slot("date") or "")
        today = datetime.now(ROME).date()
        day = parse_day(hint, today) if hint else None
        part = part_of_day(hint) if hint else None
        d_from = day or today
        d_to = day or today + timedelta(days=21)
        try:
            status, body = await crm.request("GET", f"/services/{service_id}/availability",
                                             params={"from": d_from.isoformat(), "to": d_to.isoformat()})
        except CrmUnavailable:
            dispatcher.utter_message(text=APOLOGY)
            return [SlotSet("requested_slot", None)]
        slots = body.get("items", []) if status == 200 else []
        if part == "morning":
            slots = [s for s in slots if int(s["start"][11:13]) < 13]
        elif part == "afternoon":
            slots = [s for s in slots if int(s["start"][11:13]) >= 13]
        if not slots and day:
            dispatcher.utter_message(text=f"Il {day.strftime('%d/%m')} non ci sono posti liberi. Le propongo i "
                                          "primi disponibili.")
            return [SlotSet("booking_day", None), SlotSet("date", None), *await self.run_first(dispatcher, service_id)]
        if not slots:
            dispatcher.utter_message(text="Al momento non ci sono posti liberi per questo servizio nelle prossime "
                                          "settimane. Posso passarla a un operatore.",
                                     buttons=[{"title": "Parlare con un operatore", "payload": "/human_handoff"}])
            return []
        picks = _spread(slots, 5)
        dispatcher.utter_message(text="Ecco i primi orari liberi. Quale preferisce? (Può anche scrivermi un altro "
                                      "giorno, ad esempio «giovedì mattina».)",
                                 buttons=[slot_button(s["start"]) for s in picks])
        return []

    async def run_first(self, dispatcher: CollectingDispatcher, service_id: Any) -> list[EventType]:
        today = datetime.now(ROME).date()
        status, body = await crm.request("GET", f"/services/{service_id}/availability",
                                         params={"from": today.isoformat(),
                                                 "to": (today + timedelta(days=21)).isoformat()})
        picks = _spread(body.get("items", []) if status == 200 else [], 5)
        if picks:
            dispatcher.utter_message(text="Quale orario preferisce?",
                                     buttons=[slot_button(s["start"]) for s in picks])
        return []


def _spread(slots: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """First slot of each of the first days, so the choice is not five minutes apart on one morning."""
    seen: dict[str, dict[str, Any]] = {}
    for s in slots:
        seen.setdefault(s["start"][:10], s)
    picks = list(seen.values())[:n]
    return picks if len(picks) >= min(n, 3) else slots[:n]


class ActionAskBookingConfirm(TurnAction):
    """The summary of what is about to be booked, with Sì/No: nothing is booked without the citizen's yes."""

    def name(self) -> str:
        return "action_ask_booking_confirm"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any],
                  turn: Turn) -> list[EventType]:
        service_id = tracker.get_slot("booking_service_id")
        try:
            status, svc = await crm.request("GET", f"/services/{int(service_id)}")
        except CrmUnavailable:
            status, svc = 0, None
        name = svc["name"] if status == 200 and svc else str(tracker.get_slot("booking_service") or "")
        lines = [f"• {name}", f"• {slot_label(str(tracker.get_slot('booking_start')))}",
                 f"• a nome di {tracker.get_slot('booking_name')}"]
        labels = {"booking_fiscal_code": "codice fiscale", "booking_phone": "telefono", "booking_email": "e-mail"}
        lines += [f"• {label}: {tracker.get_slot(slot)}" for slot, label in labels.items() if tracker.get_slot(slot)]
        dispatcher.utter_message(text="Riepilogo della prenotazione:\n" + "\n".join(lines) + "\nConfermo?",
                                 buttons=[{"title": "Sì, prenota", "payload": "/affirm"},
                                          {"title": "No, lascio stare", "payload": "/deny"}])
        return []


class ActionBook(TurnAction):
    def name(self) -> str:
        return "action_book"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any],
                  turn: Turn) -> list[EventType]:
        m = meta(tracker)
        reset = [SlotSet(s, None) for s in ("booking_service", "booking_service_id", "booking_start", "booking_name",
                                            "booking_day", "booking_extra", "booking_confirm",
                                            *EXTRA_FIELDS.values(), "requested_slot")]
        if not tracker.get_slot("booking_confirm"):
            dispatcher.utter_message(text="Va bene, non ho prenotato nulla. Se vuole un altro giorno o un altro "
                                          "orario, scriva «prenota».")
            return reset
        if m.get("contact_id") is None:
            dispatcher.utter_message(text="Non riesco a identificarla su questo canale: chiami l'URP allo 0761 123456.")
            return reset
        first, _, last = str(tracker.get_slot("booking_name") or "").partition(" ")
        fields = {"first_name": first, "last_name": last}
        fields |= {name: tracker.get_slot(slot) for name, slot in EXTRA_FIELDS.items() if tracker.get_slot(slot)}
        body = {"service_id": int(tracker.get_slot("booking_service_id")), "start": tracker.get_slot("booking_start"),
                "contact_id": int(m["contact_id"]), "fields": fields, "channel": m.get("channel") or "web"}
        key = f"rasa-{tracker.sender_id}-{body['start']}"
        try:
            # on a resource calendar (an official, a room) the citizen gets the first one free at that time
            resource_id = await _free_resource(body["service_id"], str(body["start"]))
            if resource_id is not None:
                body["resource_id"] = resource_id
            status, res = await crm.request("POST", "/bookings", json=body, headers={"Idempotency-Key": key})
        except CrmUnavailable:
            dispatcher.utter_message(text=APOLOGY)
            return reset
        if status in (200, 201):
            text = (f"Fatto! Appuntamento confermato: {res['service_name']}, {slot_label(res['start'])}. "
                    f"Il codice è {res['code']}.")
            if res.get("what_to_bring"):
                text += f" Porti con sé: {res['what_to_bring']}."
            dispatcher.utter_message(text=text)
        elif status == 409:
            dispatcher.utter_message(text="Mi dispiace, quell'orario è stato appena preso da un'altra persona. "
                                          "Scriva «prenota» per scegliere un altro orario.")
        else:
            reason = "; ".join((res or {}).get("error", {}).get("fields", {}).values()) or "dati non validi"
            dispatcher.utter_message(text=f"Non è stato possibile prenotare ({reason}). Se vuole, la passo a un "
                                          "operatore.", buttons=[{"title": "Parlare con un operatore",
                                                                  "payload": "/human_handoff"}])
        return reset


async def _free_resource(service_id: int, start: str) -> int | None:
    day = start[:10]
    status, body = await crm.request("GET", f"/services/{service_id}/availability", params={"from": day, "to": day})
    if status != 200:
        return None
    wanted = datetime.fromisoformat(start)
    return next((s["resource_id"] for s in body.get("items", [])
                 if s.get("resource_id") is not None and datetime.fromisoformat(s["start"]) == wanted), None)


CANCEL_SLOTS = ("cancel_code", "cancel_booking_id", "cancel_summary", "cancel_owned", "cancel_second_factor",
                "cancel_confirm")


def _stop_cancel() -> dict[str, Any]:
    """Fill what is left of cancel_form so it ends here; action_cancel_appointment then cancels nothing (the reason
    has been said already)."""
    return {"cancel_code": "-", "cancel_second_factor": "-", "cancel_confirm": False, "cancel_booking_id": None}


def _stopped(value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any] | None:
    """What a cancel_form validator returns when the form is already ending ("-") or the citizen gives up; None
    to go on validating."""
    if value == "-":
        return {}
    if tracker.latest_message.get("intent", {}).get("name") in ("deny", "goodbye"):
        dispatcher.utter_message(text="Va bene, non annullo nulla.")
        return _stop_cancel()
    return None


def _code_in(tracker: Tracker) -> str | None:
    entity = next((e["value"] for e in tracker.latest_message.get("entities", []) if e.get("entity") == "code"), None)
    found = CODE_RE.search(str(entity or "")) or CODE_RE.search(str(tracker.latest_message.get("text") or ""))
    return found.group(0).upper() if found else None


class ValidateCancelForm(TurnFormValidation):
    """Cancelling a booking. From the citizen's own channel the booking is theirs to cancel; from any other channel
    (a relative's phone, a new Telegram account) the code alone is not enough: a second factor is asked and checked
    by the CRM's throttled look-up. The citizen always confirms before anything is cancelled."""

    def name(self) -> str:
        return "validate_cancel_form"

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: dict[str, Any]) -> list[str]:
        if tracker.get_slot("cancel_code") and tracker.get_slot("cancel_owned") is False:
            return ["cancel_code", "cancel_second_factor", *[s for s in domain_slots if s != "cancel_code"]]
        return domain_slots

    async def extract_cancel_code(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: dict[str, Any]) -> dict[str, Any]:
        requested = tracker.get_slot("requested_slot")
        if _asks_operator(tracker) or (tracker.get_slot("cancel_code") and requested != "cancel_code"):
            return {}
        code = _code_in(tracker)
        if code:
            return {"cancel_code": code}
        if requested == "cancel_code":
            # not a code: validation explains the format (or ends the form if the citizen gave up)
            return {"cancel_code": tracker.latest_message.get("text") or ""}
        # the form starts without a code: with exactly one active booking on this channel, that is the one
        contact_id = meta(tracker).get("contact_id")
        if contact_id is None:
            return {}
        try:
            active = await crm.active_bookings(int(contact_id))
        except CrmUnavailable:
            return {}
        return {"cancel_code": active[0]["code"]} if len(active) == 1 else {}

    async def extract_cancel_second_factor(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                           domain: dict[str, Any]) -> dict[str, Any]:
        return _text_for(tracker, "cancel_second_factor")

    async def validate_cancel_code(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: dict[str, Any]) -> dict[str, Any]:
        stopped = _stopped(value, dispatcher, tracker)
        if stopped is not None:
            return stopped
        found = CODE_RE.search(str(value or ""))
        code = found.group(0).upper() if found else ""
        if not code or code_kind(code) != "booking":
            dispatcher.utter_message(text=("Questo è il codice di una pratica, non di un appuntamento. " if code else
                                           "Il codice non sembra corretto. ")
                                     + "Il codice dell'appuntamento ha la forma AN-7K3P9: lo trova nel messaggio di "
                                       "conferma della prenotazione. Me lo riscrive?")
            return {"cancel_code": None}
        contact_id = meta(tracker).get("contact_id")
        try:
            mine = await crm.find_booking(code, int(contact_id)) if contact_id is not None else None
        except CrmUnavailable:
            dispatcher.utter_message(text=APOLOGY)
            return _stop_cancel()
        if mine is None:
            return {"cancel_code": code, "cancel_owned": False}
        return {"cancel_code": code, "cancel_owned": True, **self._target(dispatcher, mine)}

    async def validate_cancel_second_factor(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                            domain: dict[str, Any]) -> dict[str, Any]:
        stopped = _stopped(value, dispatcher, tracker)
        if stopped is not None:
            return stopped
        factor = second_factor_of(value)
        if factor is None:
            dispatcher.utter_message(text=SECOND_FACTOR_HELP)
            return {"cancel_second_factor": None}
        try:
            status, body = await crm.lookup_booking(str(tracker.get_slot("cancel_code")), factor,
                                                    caller=caller_key(tracker))
        except CrmUnavailable:
            dispatcher.utter_message(text=APOLOGY)
            return _stop_cancel()
        if status == 429:
            dispatcher.utter_message(text=TOO_MANY_TRIES)
            return _stop_cancel()
        if status != 200:
            dispatcher.utter_message(text="Non trovo un appuntamento con questo codice e questi dati. Controlli il "
                                          "codice e le cifre e riprovi scrivendo «annulla appuntamento», oppure "
                                          "scriva «operatore».")
            return _stop_cancel()
        return {"cancel_second_factor": factor, **self._target(dispatcher, body)}

    @staticmethod
    def _target(dispatcher: CollectingDispatcher, b: dict[str, Any]) -> dict[str, Any]:
        """The booking to confirm, or the form ends with the reason it cannot be cancelled here."""
        if b.get("status") != "confirmed":
            state = BOOKING_STATUS_IT.get(str(b.get("status")), str(b.get("status")))
            dispatcher.utter_message(text=f"L'appuntamento {b['code']} risulta già {state}: non c'è nulla da "
                                          "annullare.")
            return {**_stop_cancel(), "cancel_code": b["code"]}
        if b.get("cancellable") is False:
            dispatcher.utter_message(text=f"L'appuntamento {b['code']} ({booking_label(b)}) non si può più annullare "
                                          "da qui perché il termine per la disdetta è passato. Chiami l'URP allo "
                                          "0761 123456.")
            return {**_stop_cancel(), "cancel_code": b["code"]}
        return {"cancel_booking_id": b["id"], "cancel_summary": f"{b['code']} ({booking_label(b)})"}


class ActionAskCancelCode(TurnAction):
    """Which booking? The ones on this channel as buttons, and the code for a booking made elsewhere."""

    def name(self) -> str:
        return "action_ask_cancel_code"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any],
                  turn: Turn) -> list[EventType]:
        contact_id = meta(tracker).get("contact_id")
        active: list[dict[str, Any]] = []
        if contact_id is not None:
            try:
                active = await crm.active_bookings(int(contact_id))
            except CrmUnavailable:
                dispatcher.utter_message(text=APOLOGY)
                return [SlotSet(s, None) for s in CANCEL_SLOTS]
        if active:
            dispatcher.utter_message(
                text="Quale appuntamento vuole annullare? Se è un appuntamento preso da un altro telefono o allo "
                     "sportello, mi scriva il suo codice (ad esempio AN-7K3P9).",
                buttons=[{"title": f"{b['code']} – {booking_label(b)}", "payload": f'/inform{{"code": "{b["code"]}"}}'}
                         for b in active[:5]])
        else:
            dispatcher.utter_message(
                text="Non risultano appuntamenti attivi legati a questo canale. Se ha prenotato da un altro telefono "
                     "o allo sportello, mi scriva il codice della prenotazione (ad esempio AN-7K3P9): lo trova nel "
                     "messaggio di conferma.")
        return []


class ActionAskCancelConfirm(TurnAction):
    def name(self) -> str:
        return "action_ask_cancel_confirm"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any],
                  turn: Turn) -> list[EventType]:
        dispatcher.utter_message(text=f"Vuole annullare l'appuntamento {tracker.get_slot('cancel_summary')}?",
                                 buttons=[{"title": "Sì, annulla", "payload": "/affirm"},
                                          {"title": "No, lo mantengo", "payload": "/deny"}])
        return []


class ActionCancelAppointment(TurnAction):
    """Runs when cancel_form is complete: cancels the confirmed booking, or says it stays."""

    def name(self) -> str:
        return "action_cancel_appointment"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any],
                  turn: Turn) -> list[EventType]:
        done = [SlotSet(s, None) for s in (*CANCEL_SLOTS, "requested_slot")]
        booking_id, summary = tracker.get_slot("cancel_booking_id"), tracker.get_slot("cancel_summary")
        if booking_id is None:
            return done  # the form ended early and said why
        if not tracker.get_slot("cancel_confirm"):
            dispatcher.utter_message(text=f"Va bene, l'appuntamento {summary} resta confermato. Se intendeva un altro "
                                          "appuntamento, scriva «annulla appuntamento» e mi indichi il codice.")
            return done
        try:
            status, res = await crm.request("POST", f"/bookings/{int(booking_id)}/cancel",
                                            json={"reason": "annullato dal cittadino in chat"})
        except CrmUnavailable:
            dispatcher.utter_message(text=APOLOGY)
            return done
        if status == 200:
            dispatcher.utter_message(text=f"L'appuntamento {summary} è stato annullato. Riceverà una conferma; il "
                                          "posto torna libero per altri cittadini.")
        elif status == 409:
            dispatcher.utter_message(text=f"L'appuntamento {summary} non è più attivo: non c'è nulla da annullare.")
        else:
            msg = str((res or {}).get("error", {}).get("message", ""))
            dispatcher.utter_message(text="Non è possibile annullarlo da qui"
                                     + (" perché il termine per la disdetta è passato" if "cancelled up to" in msg
                                        else "") + ". Chiami l'URP allo 0761 123456.")
        return done


class ActionSubmitInstance(TurnAction):
    def name(self) -> str:
        return "action_submit_instance"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any],
                  turn: Turn) -> list[EventType]:
        m = meta(tracker)
        reset = [SlotSet("instance_subject", None), SlotSet("instance_description", None)]
        if m.get("contact_id") is None:
            dispatcher.utter_message(text="Non riesco a identificarla su questo canale: si rivolga all'URP.")
            return reset
        body = {"type": "istanza-generica", "contact_id": int(m["contact_id"]), "channel": m.get("channel") or "web",
                "data": {"subject": str(tracker.get_slot("instance_subject"))[:200],
                         "description": str(tracker.get_slot("instance_description"))[:5000]}}
        try:
            status, res = await crm.request("POST", "/instances", json=body)
        except CrmUnavailable:
            dispatcher.utter_message(text=APOLOGY)
            return reset
        if status != 201:
            dispatcher.utter_message(text="Non sono riuscito a presentare l'istanza. La passo a un operatore.",
                                     buttons=[{"title": "Parlare con un operatore", "payload": "/human_handoff"}])
            return reset
        text = f"La sua istanza è stata presentata con il codice {res['code']}"
        text += f" ed è registrata al protocollo con il numero {res['protocol_number']}." if res.get(
            "protocol_number") else "; il numero di protocollo le arriverà appena registrata."
        dispatcher.utter_message(text=text + " La avviseremo a ogni passaggio.")
        return reset




class ActionAskBookingService(TurnAction):
    def name(self) -> str:
        return "action_ask_booking_service"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any],
                  turn: Turn) -> list[EventType]:
        try:
            status, body = await crm.request("GET", "/services")
        except CrmUnavailable:
            dispatcher.utter_message(text=APOLOGY)
            return []
        services = body.get("items", []) if status == 200 else []
        dispatcher.utter_message(text="Certo. Per quale servizio desidera l'appuntamento?",
                                 buttons=[{"title": s["name"], "payload": s["slug"]} for s in services[:8]])
        return []
