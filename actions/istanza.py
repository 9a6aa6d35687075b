"""Istanze: a formal request to the Comune (the generic type), with subject and description; it gets a code at once
and its protocol number as soon as the register (or the external protocol system) records it."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import apologise, say
from actions.crm_client import CrmUnavailable, crm
from actions.turn import TurnAction
from channels.turn_token import Turn

INSTANCE_SLOTS = ("instance_subject", "instance_description")
GENERIC_TYPE = "istanza-generica"


class ActionSubmitInstance(TurnAction):
    def name(self) -> str:
        return "action_submit_instance"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], turn: Turn
    ) -> list[EventType]:
        reset = [SlotSet(s, None) for s in INSTANCE_SLOTS]
        subject, description = tracker.get_slot("instance_subject"), tracker.get_slot("instance_description")
        if not subject or not description:
            return reset  # the form ended early and said why
        try:
            filed = await crm.submit_instance(
                type_slug=GENERIC_TYPE,
                contact_id=turn.contact_id,
                channel=turn.channel,
                data={"subject": str(subject)[:200], "description": str(description)[:5000]},
            )
        except CrmUnavailable:
            apologise(dispatcher)
            return reset
        if not filed.ok or filed.body is None:
            say(dispatcher, "utter_instance_failed")
            return reset
        if filed.body.get("protocol_number"):
            say(
                dispatcher,
                "utter_instance_filed_protocolled",
                code=filed.body["code"],
                protocol=filed.body["protocol_number"],
            )
        else:
            say(dispatcher, "utter_instance_filed", code=filed.body["code"])
        return reset
