"""Segnalazioni: a problem in the street (lighting, holes, waste, green, water...) filed as a request of kind
"report" for the URP, with its place and description; its code lets the citizen ask where it stands."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import apologise, phrase, say
from actions.crm_client import CrmUnavailable, crm
from actions.turn import TurnAction, TurnFormValidation
from channels.turn_token import Turn

REPORT_SLOTS = ("issue_description", "issue_place")


class ValidateReportForm(TurnFormValidation):
    def name(self) -> str:
        return "validate_report_form"

    async def validate_issue_description(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                         domain: dict[str, Any]) -> dict[str, Any]:
        text = str(value or "").strip()
        if len(text) < 4 or text.startswith("/"):
            say(dispatcher, "utter_report_description_too_short")
            return {"issue_description": None}
        return {"issue_description": text[:1000]}

    async def validate_issue_place(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: dict[str, Any]) -> dict[str, Any]:
        # asked for the place, the whole answer is the place: "via Mazzini 23" is not two places "via" and "23"
        if tracker.get_slot("requested_slot") == "issue_place":
            value = tracker.latest_message.get("text") or value
        text = str(value or "").strip()
        if len(text) < 3:
            say(dispatcher, "utter_report_place_too_short")
            return {"issue_place": None}
        return {"issue_place": text[:300]}


class ActionSubmitReport(TurnAction):
    def name(self) -> str:
        return "action_submit_report"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any],
                  turn: Turn) -> list[EventType]:
        description, place = tracker.get_slot("issue_description"), tracker.get_slot("issue_place")
        reset = [SlotSet(s, None) for s in REPORT_SLOTS]
        if not description or not place:
            return reset  # the form ended early and said why
        try:
            filed = await crm.file_request(
                contact_id=turn.contact_id, kind="report", topic="segnalazioni", channel=turn.channel,
                subject=str(description)[:200] or phrase(domain, "utter_report_subject"),
                description=phrase(domain, "utter_report_record", description=description, place=place),
                conversation_id=turn.conversation_id)
        except CrmUnavailable:
            apologise(dispatcher)
            return reset
        if not filed.ok or filed.body is None:
            say(dispatcher, "utter_report_failed")
            return reset
        say(dispatcher, "utter_report_filed", code=filed.body["code"])
        return [*reset, SlotSet("request_code", filed.body["code"])]
