"""Istanze: a formal request to the Comune (the generic type), with subject and description; it gets a code at once
and its protocol number as soon as the register (or the external protocol system) records it."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import apologise, latest_intent, latest_text, say, text_for
from actions.crm_client import CrmUnavailable, crm
from actions.knowledge import kb_before_dead_end
from actions.turn import TurnAction, TurnFormValidation, turn_of
from channels.turn_token import Turn

INSTANCE_SLOTS = ("instance_subject", "instance_description")
GENERIC_TYPE = "istanza-generica"
ANSWERED = "-"  # both slots when the knowledge base answered the message that started the form: nothing is filed
ASK_KB = "?"  # instance_subject when the form starts with a message that says what it is about
# words of a request for an istanza that say nothing about what it is for: «vorrei presentare un'istanza», «devo
# fare una domanda al comune» start the form; «voglio aprire una pizzeria da asporto» is a question for the KB first
_GENERIC = frozenset(
    """vorrei voglio devo dovrei posso potrei volevo fare presentare inviare mandare depositare una un uno istanza
    istanze domanda richiesta pratica formale comune ufficio protocollo per favore grazie buongiorno salve ciao del
    della al alla di da che mi ci si vi lo la le il""".split()
)


def says_what_for(text: str) -> bool:
    return any(len(w) > 2 and w not in _GENERIC for w in re.findall(r"[a-zàèéìòù]+", text.lower()))


class ValidateInstanceForm(TurnFormValidation):
    """The message that started the form, when it says what it is about («voglio aprire una pizzeria», «registrare la
    convivenza»), goes to the knowledge base first: a confident article is the answer and nothing is filed (the
    citizen can still ask for the istanza); otherwise the form asks its questions."""

    def name(self) -> str:
        return "validate_instance_form"

    async def extract_instance_subject(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") is None and not tracker.get_slot("instance_subject"):
            text = latest_text(tracker)
            if latest_intent(tracker) == "submit_instance" and not text.startswith("/") and says_what_for(text):
                return {"instance_subject": ASK_KB}
            return {}
        return text_for(tracker, "instance_subject")

    async def validate_instance_subject(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        if value == ASK_KB:
            turn = turn_of(tracker)
            answered = await kb_before_dead_end(dispatcher, tracker, turn) if turn is not None else None
            if answered is None:
                return {"instance_subject": None}  # the form asks for the subject
            return {"instance_subject": ANSWERED, "instance_description": ANSWERED, **answered}
        return {"instance_subject": value}


class ActionSubmitInstance(TurnAction):
    def name(self) -> str:
        return "action_submit_instance"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], turn: Turn
    ) -> list[EventType]:
        reset = [SlotSet(s, None) for s in INSTANCE_SLOTS]
        subject, description = tracker.get_slot("instance_subject"), tracker.get_slot("instance_description")
        if not subject or not description or ANSWERED in (subject, description):
            return reset  # the form ended early and said why, or the knowledge base answered instead
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
