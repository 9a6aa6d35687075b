"""Where does it stand: a request's status only to its owner's channel; an istanza's or a booking's to its owner, or
to anyone who adds the owner's phone digits or fiscal code (the CRM's throttled look-up). And "which appointments do
I have"."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    CODE_RE,
    apologise,
    booking_label,
    caller_key,
    code_in,
    code_kind,
    day_label,
    phrase,
    say,
    say_with_urp,
    second_factor_of,
)
from actions.crm_client import CrmUnavailable, Reply, crm
from actions.knowledge import kb_before_dead_end
from actions.turn import TurnAction, TurnFormValidation, turn_of
from channels.turn_token import Turn

STATUS_SLOTS = ("request_code", "status_second_factor", "status_verified")
FINAL_INSTANCE_STATES = ("accepted", "rejected", "withdrawn")
ANSWERED = "-"  # request_code when the knowledge base answered the message instead: the form ends, nothing is checked
ASK_KB = "?"  # request_code when the form starts without one: the knowledge base is asked first


def state_label(domain: dict[str, Any], kind: str, status: str) -> str:
    """«presa in carico da un operatore»: the Italian label of a request's, istanza's or booking's status."""
    name = f"utter_label_{kind}_{status}"
    return phrase(domain, name) if name in (domain.get("responses") or {}) else phrase(domain, "utter_label_unknown")


class ValidateStatusForm(TurnFormValidation):
    """Asks for a second factor only when an istanza's or a booking's code comes from someone who is not its owner
    on this channel: the status of a formal request is personal data."""

    def name(self) -> str:
        return "validate_status_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[str]:
        code = str(tracker.get_slot("request_code") or "")
        if code and code != ANSWERED and code_kind(code) != "request" and not tracker.get_slot("status_verified"):
            return [*domain_slots, "status_second_factor"]
        return domain_slots

    async def extract_request_code(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        """The form starts without a code («quanto ci vuole per la carta d'identità?» read as a status check): the
        knowledge base is asked before the citizen is asked for a code; its answer ends the form."""
        if tracker.get_slot("requested_slot") or tracker.get_slot("request_code") or code_in(tracker):
            return {}
        return {"request_code": ASK_KB}  # validate_request_code asks (rasa-sdk keeps only what validation returns)

    async def extract_status_second_factor(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "status_second_factor" or tracker.latest_message.get("intent", {}).get(
            "name"
        ) in ("human_handoff", "ask_info"):
            return {}
        return {"status_second_factor": tracker.latest_message.get("text")}

    async def validate_request_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        if value == ASK_KB:
            turn = turn_of(tracker)
            answered = await kb_before_dead_end(dispatcher, tracker, turn) if turn is not None else None
            return {"request_code": ANSWERED, **answered} if answered is not None else {"request_code": None}
        if value == ANSWERED:
            return {"request_code": ANSWERED}
        found = CODE_RE.search(str(value or ""))
        if not found:
            say(dispatcher, "utter_status_code_malformed")
            return {"request_code": None}
        code = found.group(0).upper()
        turn = turn_of(tracker)
        kind = code_kind(code)
        if kind != "request" and turn is not None:
            try:
                owned = await (crm.find_instance if kind == "istanza" else crm.find_booking)(code, turn.contact_id)
            except CrmUnavailable:
                owned = None
            return {"request_code": code, "status_verified": owned is not None}
        return {"request_code": code}

    async def validate_status_second_factor(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        factor = second_factor_of(value)
        if factor is None:
            say(dispatcher, "utter_second_factor_help")
        return {"status_second_factor": factor}


class ActionCheckStatus(TurnAction):
    def name(self) -> str:
        return "action_check_status"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], turn: Turn
    ) -> list[EventType]:
        raw = str(tracker.get_slot("request_code") or "")
        code_match = CODE_RE.search(raw)
        # requested_slot too: a stale one would make the next check take its first message for the second factor
        done = [*(SlotSet(s, None) for s in STATUS_SLOTS), SlotSet("requested_slot", None)]
        if raw == ANSWERED:
            return done  # the knowledge base answered the message that started the form
        if not code_match:
            say(dispatcher, "utter_status_code_malformed")
            return done
        code = code_match.group(0).upper()
        try:
            if code_kind(code) == "istanza":
                await self._istanza(dispatcher, tracker, domain, code, turn)
            elif code_kind(code) == "booking":
                await self._booking(dispatcher, tracker, domain, code, turn)
            else:
                await self._request(dispatcher, domain, code, turn)
        except CrmUnavailable:
            apologise(dispatcher)
        return done

    @staticmethod
    async def _request(dispatcher: CollectingDispatcher, domain: dict[str, Any], code: str, turn: Turn) -> None:
        found = await crm.find_request(code, turn.contact_id)
        if found is None:
            # same answer whether the code does not exist or belongs to someone else: nothing leaks
            say(dispatcher, "utter_status_request_not_found")
            return
        say(
            dispatcher,
            "utter_status_request",
            code=found["code"],
            subject=found.get("subject", ""),
            state=state_label(domain, "request", found["status"]),
        )

    @staticmethod
    async def _fetch(
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        code: str,
        turn: Turn,
        own: Callable[[str, int], Awaitable[Any]],
        lookup: Callable[..., Awaitable[Reply[Any]]],
    ) -> tuple[bool, dict[str, Any] | None]:
        """(throttled, item): the owner's own item by channel identity, else the throttled look-up with the second
        factor."""
        if tracker.get_slot("status_verified"):
            return False, await own(code, turn.contact_id)
        reply = await lookup(
            code, str(tracker.get_slot("status_second_factor") or ""), caller=caller_key(tracker, turn)
        )
        if reply.status == 429:
            await say_with_urp(dispatcher, "utter_too_many_tries")
            return True, None
        return False, reply.body if reply.ok else None

    async def _istanza(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], code: str, turn: Turn
    ) -> None:
        async def own(code: str, contact_id: int) -> dict[str, Any] | None:
            found = await crm.find_instance(code, contact_id)
            return (
                {
                    "code": found["code"],
                    "status": found["status"],
                    "protocol_number": found.get("protocol_number"),
                    "deadline": (found.get("deadline_at") or "")[:10] or None,
                }
                if found
                else None
            )

        throttled, info = await self._fetch(dispatcher, tracker, code, turn, own, crm.lookup_instance)
        if throttled:
            return
        if info is None:
            say(dispatcher, "utter_status_instance_not_found")
            return
        protocol = (
            phrase(domain, "utter_part_protocol", number=info["protocol_number"]) if info.get("protocol_number") else ""
        )
        deadline = (
            phrase(domain, "utter_part_deadline", day=day_label(info["deadline"]))
            if info.get("deadline") and info["status"] not in FINAL_INSTANCE_STATES
            else ""
        )
        say(
            dispatcher,
            "utter_status_instance",
            code=info["code"],
            state=state_label(domain, "instance", info["status"]),
            protocol=protocol,
            deadline=deadline,
        )

    async def _booking(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], code: str, turn: Turn
    ) -> None:
        """A booking code asked about: its state, for its owner's channel or with the second factor."""
        throttled, info = await self._fetch(dispatcher, tracker, code, turn, crm.find_booking, crm.lookup_booking)
        if throttled:
            return
        if info is None:
            say(dispatcher, "utter_status_booking_not_found")
            return
        say(
            dispatcher,
            "utter_status_booking_confirmed" if info["status"] == "confirmed" else "utter_status_booking",
            code=info["code"],
            booking=booking_label(info),
            state=state_label(domain, "booking", info["status"]),
        )


class ActionListAppointments(TurnAction):
    def name(self) -> str:
        return "action_list_appointments"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], turn: Turn
    ) -> list[EventType]:
        try:
            items = await crm.active_bookings(turn.contact_id)
        except CrmUnavailable:
            apologise(dispatcher)
            return []
        if not items:
            # nothing to list: a question the NLU read as "my appointments" gets its article before the dead end
            answered = await kb_before_dead_end(dispatcher, tracker, turn)
            if answered is not None:
                return [SlotSet(k, v) for k, v in answered.items()]
            say(dispatcher, "utter_no_appointments")
            return []
        lines = [
            phrase(domain, "utter_part_appointment_line", booking=booking_label(b), code=b["code"]) for b in items[:5]
        ]
        say(dispatcher, "utter_appointments", appointments="\n".join(lines))
        return []
