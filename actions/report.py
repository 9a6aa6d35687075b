"""Segnalazioni: a problem in the street (lighting, holes, waste, green, water...) filed as a request of kind
"report" for the URP, with its place and description; its code lets the citizen ask where it stands."""

from __future__ import annotations

import json
import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import apologise, latest_intent, latest_text, phrase, say
from actions.crm_client import CrmUnavailable, crm
from actions.knowledge import answer_in_form, kb_before_dead_end, place_in
from actions.nlu_words import names_intent
from actions.turn import TurnAction, TurnFormValidation, turn_of
from channels.turn_token import Turn

REPORT_SLOTS = ("issue_description", "issue_place")
NEXT = "issue_next"  # a second problem told while the first one's place was asked, filed right after it
# while the form asks where the problem is, a message the NLU reads as another request («come annullo
# l'appuntamento?», «possiamo avere il patrocinio?») is a question, not the place: it is answered and asked again
ANOTHER_REQUEST = frozenset(
    {"cancel_appointment", "submit_instance", "book_appointment", "check_status", "list_appointments"}
)
ANSWERED = "-"  # both slots when the knowledge base answered the message that started the form: nothing is filed
# words of a request to report that say nothing about the problem: «vorrei fare una segnalazione», «devo segnalare
# un problema in strada» start the form; «c'è un lampione spento da giorni» is already its description
_GENERIC = frozenset(
    """vorrei voglio devo dovrei posso potrei volevo fare una un uno segnalare segnalazione segnalo
    segnalarvi comunicare problema problemi guasto disservizio strada via qualcosa cosa per favore grazie buongiorno
    salve ciao del della nel nella in al alla di da che mi ci si vi lo la le il""".split()
)


def describes_a_problem(text: str) -> bool:
    words = [w for w in re.findall(r"[a-zàèéìòù]+", text.lower()) if len(w) > 2 and w not in _GENERIC]
    return bool(words)


def carried_over(tracker: Tracker) -> dict[str, Any]:
    """What the citizen already said when the report form starts: the message that started it, when it describes the
    problem (and the place named in it), or what was kept when the assistant offered to file it (a "yes")."""
    offered = tracker.get_slot("report_offer")
    if tracker.get_slot("report_offered") and offered and latest_intent(tracker) == "affirm":
        try:
            kept = json.loads(offered)
        except ValueError:
            kept = {}
        return {"issue_description": kept.get("description"), "issue_place": kept.get("place")}
    text = latest_text(tracker)
    if text.startswith("/") or not describes_a_problem(text):
        return {}
    return {"issue_description": text, "issue_place": place_in(tracker)}


def another_problem(tracker: Tracker) -> bool:
    """The answer to "where is it?" is a problem of its own: read as a report, naming no place, with a word that is
    characteristic of the report examples («lampione», «buca», «tombino»: actions/nlu_words.py); «davanti al
    supermercato» read as a report is still the place."""
    text = latest_text(tracker)
    has_place = any(e.get("entity") == "place" for e in tracker.latest_message.get("entities", []))
    return (
        latest_intent(tracker) == "report_issue"
        and not has_place
        and names_intent(text, "report_issue")
        and text.strip() != str(tracker.get_slot("issue_description") or "").strip()
    )


def chained(tracker: Tracker) -> bool:
    """The form was started by ``action_submit_report`` for the second problem (``NEXT`` still holds it)."""
    following = tracker.get_slot(NEXT)
    return (
        bool(following)
        and tracker.get_slot("requested_slot") is None
        and following == tracker.get_slot("issue_description")
    )


class ValidateReportForm(TurnFormValidation):
    def name(self) -> str:
        return "validate_report_form"

    async def extract_issue_description(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        """When the form starts, what was already said fills it: the form then asks only for what is missing."""
        if tracker.get_slot("requested_slot") or tracker.get_slot("issue_description"):
            return {}
        return {k: v for k, v in carried_over(tracker).items() if v}

    async def validate_issue_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        if value == ANSWERED:
            return {"issue_description": ANSWERED}
        if chained(tracker):  # the second problem's own words, kept when it was told (see validate_issue_place)
            return {"issue_description": value}
        if tracker.get_slot("requested_slot") is None and latest_intent(tracker) == "report_issue":
            # the message that started the form: a confident article that is not "report it" («voglio lamentarmi per
            # come sono stato trattato», «ho trovato un cane senza collare», «la bolletta dell'acqua è troppo alta»:
            # a complaint, another office, another body) is the answer and nothing is filed; otherwise the form goes
            # on with what was said
            turn = turn_of(tracker)
            answered = (
                await kb_before_dead_end(dispatcher, tracker, turn, report_articles=False) if turn is not None else None
            )
            if answered is not None:
                return {"issue_description": ANSWERED, "issue_place": ANSWERED, **answered}
        text = str(value or "").strip()
        if len(text) < 4 or text.startswith("/"):
            say(dispatcher, "utter_report_description_too_short")
            return {"issue_description": None}
        return {"issue_description": text[:1000], "report_offered": False, "report_offer": None}  # offer used up

    async def validate_issue_place(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        if value == ANSWERED or tracker.get_slot("issue_description") == ANSWERED:
            return {"issue_place": ANSWERED}
        if chained(tracker):
            # the second problem's form starting right after the first was filed: the message in hand is the first
            # one's place, not this one's; the form asks
            return {"issue_place": None, NEXT: None}
        if tracker.get_slot("requested_slot") == "issue_place" and latest_intent(tracker) in ANOTHER_REQUEST:
            turn = turn_of(tracker)
            events = await answer_in_form(dispatcher, tracker, turn) if turn is not None else []
            return {"issue_place": None, **{e["name"]: e["value"] for e in events}}
        if tracker.get_slot("requested_slot") == "issue_place" and another_problem(tracker):
            # «c'è un lampione che lampeggia da giorni» when asked where the mattress is: a second report, not the
            # first one's place (it was filed with the lamp as its place); kept, and the form asks again
            text = latest_text(tracker)[:1000]
            say(dispatcher, "utter_report_one_at_a_time", next=text, description=tracker.get_slot("issue_description"))
            return {"issue_place": None, NEXT: text}
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

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], turn: Turn
    ) -> list[EventType]:
        description, place = tracker.get_slot("issue_description"), tracker.get_slot("issue_place")
        reset = [SlotSet(s, None) for s in (*REPORT_SLOTS, NEXT)]
        if not description or not place or ANSWERED in (description, place):
            return reset  # the form ended early and said why, or the knowledge base answered instead
        try:
            filed = await crm.file_request(
                contact_id=turn.contact_id,
                kind="report",
                topic="segnalazioni",
                channel=turn.channel,
                subject=str(description)[:200] or phrase(domain, "utter_report_subject"),
                description=phrase(domain, "utter_report_record", description=description, place=place),
                conversation_id=turn.conversation_id,
            )
        except CrmUnavailable:
            apologise(dispatcher)
            return reset
        if not filed.ok or filed.body is None:
            say(dispatcher, "utter_report_failed")
            return reset
        say(dispatcher, "utter_report_filed", code=filed.body["code"])
        done = [*reset, SlotSet("request_code", filed.body["code"])]
        following = tracker.get_slot(NEXT)
        if not following:
            return done
        # the second problem the citizen told meanwhile: its form starts with the description, asking where
        say(dispatcher, "utter_report_next", description=following)
        return [*done, SlotSet("issue_description", following), SlotSet(NEXT, following), FollowupAction("report_form")]
