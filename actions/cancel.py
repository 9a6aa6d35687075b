"""Cancelling a booking: the channel's only booking, a button per booking, or a code. From the citizen's own channel
the booking is theirs to cancel; from any other channel (a relative's phone, a new Telegram account) the code alone is
not enough: a second factor is asked and checked by the CRM's throttled look-up. The citizen always confirms before
anything is cancelled, and can give up at any step."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    CODE_RE,
    apologise,
    asks_operator,
    asks_question,
    booking_label,
    caller_key,
    code_in,
    code_kind,
    say,
    say_with_urp,
    second_factor_of,
    text_for,
)
from actions.crm_client import Booking, CrmUnavailable, crm
from actions.knowledge import kb_before_dead_end
from actions.status import state_label
from actions.turn import TurnAction, TurnFormValidation, turn_of
from channels.turn_token import Turn

CANCEL_SLOTS = (
    "cancel_code",
    "cancel_booking_id",
    "cancel_summary",
    "cancel_owned",
    "cancel_second_factor",
    "cancel_confirm",
)


ASK_KB = "?"  # cancel_code when the form starts with no code and nothing to cancel: the knowledge base is asked first


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
        say(dispatcher, "utter_cancel_given_up")
        return _stop_cancel()
    return None


class ValidateCancelForm(TurnFormValidation):
    def name(self) -> str:
        return "validate_cancel_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[str]:
        if tracker.get_slot("cancel_code") and tracker.get_slot("cancel_owned") is False:
            return ["cancel_code", "cancel_second_factor", *[s for s in domain_slots if s != "cancel_code"]]
        return domain_slots

    async def extract_cancel_code(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        requested = tracker.get_slot("requested_slot")
        if asks_operator(tracker) or (tracker.get_slot("cancel_code") and requested != "cancel_code"):
            return {}
        code = code_in(tracker)
        if code:
            return {"cancel_code": code}
        if requested == "cancel_code":
            if asks_question(tracker):
                return {}  # answered by the knowledge base, then the form asks again (rules.yml)
            # not a code: validation explains the format (or ends the form if the citizen gave up)
            return {"cancel_code": tracker.latest_message.get("text") or ""}
        # the form starts without a code: with exactly one active booking on this channel, that is the one
        turn = turn_of(tracker)
        if turn is None:
            return {}
        try:
            active = await crm.active_bookings(turn.contact_id)
        except CrmUnavailable:
            return {}
        if len(active) == 1:
            return {"cancel_code": active[0]["code"]}
        if not active:
            # no booking to cancel and no code: validate_cancel_code asks the knowledge base first
            return {"cancel_code": ASK_KB}
        return {}

    async def extract_cancel_second_factor(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        return text_for(tracker, "cancel_second_factor")

    async def validate_cancel_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        if value == ASK_KB:
            # a question read as a cancellation gets its article and the form ends; otherwise the form asks for a code
            turn = turn_of(tracker)
            answered = await kb_before_dead_end(dispatcher, tracker, turn) if turn is not None else None
            return {**_stop_cancel(), **answered} if answered is not None else {"cancel_code": None}
        stopped = _stopped(value, dispatcher, tracker)
        if stopped is not None:
            return stopped
        found = CODE_RE.search(str(value or ""))
        code = found.group(0).upper() if found else ""
        if not code or code_kind(code) != "booking":
            say(dispatcher, "utter_cancel_code_of_a_request" if code else "utter_cancel_code_malformed")
            return {"cancel_code": None}
        turn = turn_of(tracker)
        try:
            mine = await crm.find_booking(code, turn.contact_id) if turn is not None else None
        except CrmUnavailable:
            apologise(dispatcher)
            return _stop_cancel()
        if mine is None:
            return {"cancel_code": code, "cancel_owned": False}
        return {"cancel_code": code, "cancel_owned": True, **await self._target(dispatcher, domain, mine)}

    async def validate_cancel_second_factor(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        stopped = _stopped(value, dispatcher, tracker)
        if stopped is not None:
            return stopped
        factor = second_factor_of(value)
        if factor is None:
            say(dispatcher, "utter_second_factor_help")
            return {"cancel_second_factor": None}
        turn = turn_of(tracker)
        assert turn is not None  # the form's validation runs only for a turn the hub vouched for
        try:
            found = await crm.lookup_booking(
                str(tracker.get_slot("cancel_code")), factor, caller=caller_key(tracker, turn)
            )
            if found.status == 429:
                await say_with_urp(dispatcher, "utter_too_many_tries")
                return _stop_cancel()
        except CrmUnavailable:
            apologise(dispatcher)
            return _stop_cancel()
        if not found.ok or found.body is None:
            say(dispatcher, "utter_cancel_lookup_failed")
            return _stop_cancel()
        return {"cancel_second_factor": factor, **await self._target(dispatcher, domain, found.body)}

    @staticmethod
    async def _target(dispatcher: CollectingDispatcher, domain: dict[str, Any], b: Booking) -> dict[str, Any]:
        """The booking to confirm, or the form ends with the reason it cannot be cancelled here."""
        if b.get("status") != "confirmed":
            say(
                dispatcher,
                "utter_cancel_not_active",
                code=b["code"],
                state=state_label(domain, "booking", str(b.get("status"))),
            )
            return {**_stop_cancel(), "cancel_code": b["code"]}
        if b.get("cancellable") is False:
            await say_with_urp(dispatcher, "utter_cancel_too_late", code=b["code"], booking=booking_label(b))
            return {**_stop_cancel(), "cancel_code": b["code"]}
        return {"cancel_booking_id": b["id"], "cancel_summary": f"{b['code']} ({booking_label(b)})"}


class ActionAskCancelCode(TurnAction):
    """Which booking? The ones on this channel as buttons, and the code for a booking made elsewhere."""

    def name(self) -> str:
        return "action_ask_cancel_code"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], turn: Turn
    ) -> list[EventType]:
        try:
            active = await crm.active_bookings(turn.contact_id)
        except CrmUnavailable:
            apologise(dispatcher)
            return [SlotSet(s, None) for s in CANCEL_SLOTS]
        if active:
            say(
                dispatcher,
                "utter_ask_cancel_code_which",
                buttons=[
                    {"title": f"{b['code']} – {booking_label(b)}", "payload": f'/inform{{"code": "{b["code"]}"}}'}
                    for b in active[:5]
                ],
            )
        else:
            say(dispatcher, "utter_ask_cancel_code_none_here")
        return []


class ActionAskCancelConfirm(TurnAction):
    def name(self) -> str:
        return "action_ask_cancel_confirm"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], turn: Turn
    ) -> list[EventType]:
        say(dispatcher, "utter_ask_cancel_confirm", booking=tracker.get_slot("cancel_summary"))
        return []


class ActionCancelAppointment(TurnAction):
    """Runs when cancel_form is complete: cancels the confirmed booking, or says it stays."""

    def name(self) -> str:
        return "action_cancel_appointment"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], turn: Turn
    ) -> list[EventType]:
        done = [SlotSet(s, None) for s in (*CANCEL_SLOTS, "requested_slot")]
        booking_id, summary = tracker.get_slot("cancel_booking_id"), tracker.get_slot("cancel_summary")
        if booking_id is None:
            return done  # the form ended early and said why
        if not tracker.get_slot("cancel_confirm"):
            say(dispatcher, "utter_cancel_kept", booking=summary)
            return done
        try:
            cancelled = await crm.cancel_booking(int(booking_id), reason="annullato dal cittadino in chat")
        except CrmUnavailable:
            apologise(dispatcher)
            return done
        if cancelled.ok:
            say(dispatcher, "utter_cancel_done", booking=summary)
        elif cancelled.status == 409:
            say(dispatcher, "utter_cancel_not_active_any_more", booking=summary)
        elif any("cancelled up to" in r for r in [cancelled.error.get("message", ""), *cancelled.reasons()]):
            await say_with_urp(dispatcher, "utter_cancel_too_late_now", booking=summary)
        else:
            await say_with_urp(dispatcher, "utter_cancel_refused", booking=summary)
        return done
