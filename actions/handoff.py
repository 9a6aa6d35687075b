"""Handoff to a person: the desk's real state decides (open: join the operators' queue with the bot's summary and
context; closed: a callback request with its code and the next opening)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import apologise, latest_intent, phrase, say, urp_values, when_label
from actions.crm_client import CrmUnavailable, Desk, crm
from actions.turn import TurnAction
from channels.turn_token import Turn


def summary_of(tracker: Tracker, domain: dict[str, Any], limit: int = 6) -> str:
    """For the operator (Italian: operators read it too): the citizen's last messages."""
    texts = [e.get("text", "") for e in tracker.events if e.get("event") == "user" and e.get("text")]
    texts = [t for t in texts if not t.startswith("/")][-limit:]
    if not texts:
        return phrase(domain, "utter_summary_no_text")
    return phrase(domain, "utter_summary", messages=" | ".join(texts))


def context_of(tracker: Tracker, reason: str) -> dict[str, Any]:
    """What the console's context panel shows: why, what the bot understood, what it collected, what it answered."""
    return {
        "reason": reason,
        "intent": latest_intent(tracker),
        "slots": {k: v for k, v in tracker.current_slot_values().items() if v not in (None, "", False, 0, 0.0)},
        "last_kb_query": tracker.get_slot("kb_last_query"),
        "last_kb_article": tracker.get_slot("kb_last_slug"),
    }


def wait_values(domain: dict[str, Any], desk: Desk) -> dict[str, str]:
    """How many are ahead and the usual wait, from the queue and recent waits; honest without history."""
    ahead, typical = int(desk.get("waiting") or 0), desk.get("typical_wait_minutes")
    queue = (
        ""
        if ahead == 0
        else phrase(domain, "utter_part_queue_one" if ahead == 1 else "utter_part_queue_many", ahead=ahead)
    )
    if not typical:
        wait = phrase(domain, "utter_part_wait_unknown")
    else:
        wait = phrase(domain, "utter_part_wait_minute" if typical == 1 else "utter_part_wait_minutes", minutes=typical)
    return {"queue": queue, "wait": wait}


async def hand_off(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    domain: dict[str, Any],
    turn: Turn,
    reason: str = "asked by the citizen",
) -> list[EventType]:
    summary, context = summary_of(tracker, domain), context_of(tracker, reason)
    try:
        desk = await crm.desk()
        if desk.get("open"):
            if await crm.handoff(turn.conversation_id, summary, context):
                say(dispatcher, "utter_handoff_open", **wait_values(domain, desk))
                return [SlotSet("failed_turns", 0)]
        else:
            filed = await crm.file_request(
                contact_id=turn.contact_id,
                kind="other",
                topic="urp",
                channel=turn.channel,
                subject=phrase(domain, "utter_callback_subject"),
                description=summary,
                conversation_id=turn.conversation_id,
            )
            if filed.ok and filed.body is not None:
                if desk.get("next_opening"):
                    say(
                        dispatcher,
                        "utter_handoff_closed_callback",
                        code=filed.body["code"],
                        reopens=when_label(str(desk["next_opening"])),
                        **urp_values(desk),
                    )
                else:
                    say(dispatcher, "utter_handoff_closed_callback_no_opening", code=filed.body["code"])
                await crm.handoff(turn.conversation_id, summary, {**context, "callback": filed.body["code"]})
                return [SlotSet("failed_turns", 0)]
    except CrmUnavailable:
        pass
    apologise(dispatcher)
    return []


class ActionHandoff(TurnAction):
    def name(self) -> str:
        return "action_handoff"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], turn: Turn
    ) -> list[EventType]:
        return await hand_off(dispatcher, tracker, domain, turn)
