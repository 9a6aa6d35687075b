"""Answers from the knowledge base: the article that answers the question, "was it useful?", out-of-scope and
out-of-competence replies, and two unanswered questions in a row handing off to a person."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import CODE_RE, apologise, latest_intent, latest_text, say
from actions.crm_client import CrmUnavailable, KbHit, KbSearch, crm
from actions.handoff import hand_off
from actions.nlu_words import COURTESY, asks_for_someone_else, names_intent, own_words
from actions.turn import TurnAction
from channels.turn_token import Turn

# An article overrides the classifier's "off-topic" only above this score. On the demo KB and our probe set the
# misread municipal questions scored 0.89 (CIE) and 0.69 (opening a pizzeria); the off-topic ones the KB would
# answer (restaurants, a cardiology visit, the weather, a recipe, a parcel) at most 0.57. The scale is the default
# embedder's: set URP_OOS_KB_MIN_SCORE with another one.
OOS_KB_MIN_SCORE = float(os.environ.get("URP_OOS_KB_MIN_SCORE", "0.6"))


# A message of at most this many words, right after an article, may be a follow-up about it («e quanto costa?»,
# «serve l'appuntamento?»): the search gets the article as context and decides (knowledge.index: every word of the
# question must be a detail any article has or a word of that one; another article clearly closer still wins).
FOLLOW_UP_MAX_WORDS = 8


def context_of(tracker: Tracker, query: str) -> str | None:
    """The article the citizen was last answered with, when ``query`` is short enough to be a follow-up about it."""
    slug = tracker.get_slot("kb_last_slug")
    return str(slug) if slug and len(query.split()) <= FOLLOW_UP_MAX_WORDS else None


async def search(tracker: Tracker, turn: Turn, query: str, *, probe: bool = False) -> KbSearch:
    """``probe``: the citizen gets another reply when nothing answers (a courtesy), so no gap is recorded."""
    return await crm.kb_search(query, k=3, channel=turn.channel, context=context_of(tracker, query), probe=probe)


def confident(res: KbSearch) -> KbHit | None:
    """The first article, when it may override the classifier's choice (off-topic, a flow that cannot serve the
    message): a confident article, or the one just given when the message is a follow-up about it."""
    results = res.get("results") or []
    top = results[0] if results else None
    if not (res.get("answerable") and top):
        return None
    return top if res.get("reason") == "follow-up" or float(top.get("score") or 0) >= OOS_KB_MIN_SCORE else None


def say_article(dispatcher: CollectingDispatcher, top: KbHit) -> None:
    """Title, passage and link in one message. Rasa's REST channel cuts a text at every blank line into separate
    messages, so the passage's paragraphs are joined by single line breaks, which the channels' renderer keeps as
    line breaks (channels/render.py)."""
    passage = re.sub(r"\n\s*\n+", "\n", (top.get("passage") or top.get("snippet") or "").strip())
    if top.get("url"):
        say(dispatcher, "utter_kb_answer", title=top["title"], passage=passage, url=top["url"])
    else:
        say(dispatcher, "utter_kb_answer_no_link", title=top["title"], passage=passage)


def answer_with(
    dispatcher: CollectingDispatcher, query: str, top: KbHit, closing: str = "utter_kb_was_it_useful"
) -> list[EventType]:
    """An article as the answer: title, the passage that answers, the link, and "was this helpful?" (or another
    closing question, e.g. the operator offered: then no feedback is awaited)."""
    say_article(dispatcher, top)
    say(dispatcher, closing)
    return [
        SlotSet("awaiting_feedback", closing == "utter_kb_was_it_useful"),
        SlotSet("kb_last_slug", top["slug"]),
        SlotSet("kb_last_query", query),
        SlotSet("failed_turns", 0),
    ]


async def kb_before_dead_end(
    dispatcher: CollectingDispatcher, tracker: Tracker, turn: Turn, *, report_articles: bool = True
) -> dict[str, Any] | None:
    """The NLU sent the message to a flow that cannot serve it (no appointments to list, no code to check or cancel):
    when the knowledge base answers the message, the article is the reply and its slots are returned; None leaves
    the flow to say its own dead end. A button's payload or a message carrying a code is the flow's own.
    ``report_articles=False``: a "report it" article leaves the flow alone (the report form, which files it)."""
    query = latest_text(tracker)
    if not query or query.startswith("/") or CODE_RE.search(query):
        return None
    try:
        res = await search(tracker, turn, query)
    except CrmUnavailable:
        return None  # the flow goes on and says what it can
    # overriding the classifier's choice takes a confident article, as for a message it called off-topic: on a
    # small KB «i miei appuntamenti» is "answerable" by the article that says "su appuntamento" (score 0.44)
    top = confident(res)
    if top is None or (not report_articles and top.get("topic", "") in report_topics()):
        return None
    return {e["name"]: e["value"] for e in await reply_with(dispatcher, tracker, query, top)}


def place_in(tracker: Tracker) -> str | None:
    """The place the NLU found in the message, when it is more than a word: DIET often tags only "via" of "via
    Manzoni 22" (bench/nlu_eval.py), and a report filed at "via" helps nobody (the form asks instead)."""
    place = next(
        (str(e["value"]) for e in tracker.latest_message.get("entities", []) if e.get("entity") == "place"), None
    )
    return place if place and len(place.split()) >= 2 else None


def report_topics() -> frozenset[str]:
    """The KB topics whose articles say "report it" (``URP_REPORT_TOPICS``, default ``segnalazioni``)."""
    return frozenset(t.strip() for t in os.environ.get("URP_REPORT_TOPICS", "segnalazioni").split(",") if t.strip())


async def reply_with(dispatcher: CollectingDispatcher, tracker: Tracker, query: str, top: KbHit) -> list[EventType]:
    """The article, or, when its content is "report it" (a hole, a dark street lamp, waste...), the offer to file the
    segnalazione now: what the citizen already said (the description, the place) is kept for the form."""
    offers_report = top.get("topic", "") in report_topics()
    if not offers_report:
        return [*answer_with(dispatcher, query, top), SlotSet("report_offered", False)]
    say(dispatcher, "utter_report_offer", title=top.get("title", ""))
    offer = json.dumps({"description": query[:1000], "place": place_in(tracker)}, ensure_ascii=False)
    return [
        SlotSet("report_offered", True),
        SlotSet("report_offer", offer),
        SlotSet("awaiting_feedback", False),
        SlotSet("kb_last_slug", top.get("slug")),
        SlotSet("kb_last_query", query),
        SlotSet("failed_turns", 0),
    ]


def looks_like_question(text: str) -> bool:
    """«mio nonno non è più autosufficiente, ci sono aiuti a casa?» is a question even if the NLU reads "no"."""
    return text.strip().endswith("?") and len(text.split()) >= 4


async def answer_info(
    dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], turn: Turn
) -> list[EventType]:
    query = latest_text(tracker)
    failed = float(tracker.get_slot("failed_turns") or 0)
    if not query or query.startswith("/"):
        say(dispatcher, "utter_ask_question")
        return []
    try:
        res = await search(tracker, turn, query)
    except CrmUnavailable:
        apologise(dispatcher)
        return []
    if res.get("answerable") and res.get("results"):
        return await reply_with(dispatcher, tracker, query, res["results"][0])
    failed += 1
    if res.get("redirect"):
        say(dispatcher, "utter_kb_not_competent", who=res["redirect"])
        return [SlotSet("failed_turns", 0), SlotSet("awaiting_feedback", False)]
    if failed >= 2:
        return await hand_off(dispatcher, tracker, domain, turn, reason="two unanswered questions")
    say(dispatcher, "utter_kb_no_answer")
    return [SlotSet("failed_turns", failed), SlotSet("awaiting_feedback", False), SlotSet("kb_last_query", query)]


class ActionAnswerInfo(TurnAction):
    def name(self) -> str:
        return "action_answer_info"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], turn: Turn
    ) -> list[EventType]:
        return await answer_info(dispatcher, tracker, domain, turn)


class ActionDefaultFallback(TurnAction):
    def name(self) -> str:
        return "action_default_fallback"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], turn: Turn
    ) -> list[EventType]:
        return await answer_info(dispatcher, tracker, domain, turn)


async def article_beyond(tracker: Tracker, turn: Turn, intents: tuple[str, ...] = COURTESY) -> KbHit | None:
    """The confident article for a message the NLU read as one of ``intents`` (a courtesy, a request for a person)
    that says more than their training examples ever do (actions/nlu_words.py); None when it says nothing more (the
    KB is not asked) or the KB has no confident answer. Right after an article a short one may be a follow-up about
    it («e dove?» read as a goodbye); a thank-you is not one (the KB's follow-up takes only detail words and the
    article's own). When the message was read as a courtesy only, the search is a probe: «buonasera, avrei una
    domanda» gets the greeting, not a place in the curators' gap list; a request for a person that finds nothing is
    a question the KB could not answer, and stays a gap."""
    query = latest_text(tracker)
    if not query or query.startswith("/") or not own_words(query, intents):
        return None
    try:
        res = await search(tracker, turn, query, probe=set(intents) <= set(COURTESY))
    except CrmUnavailable:
        return None  # the courtesy's own reply: nothing is lost
    return confident(res)


# each courtesy's fixed reply, when the message says nothing more
COURTESY_REPLIES = {"greet": "utter_greet", "goodbye": "utter_goodbye", "thank": "utter_you_are_welcome"}


class ActionSmallTalk(TurnAction):
    """A greeting, a thank-you or a goodbye gets its courtesy, unless the message asks more than that («grazie, ma mi
    è arrivata una bolletta dell'acqua troppo alta»): then the knowledge base's confident article is the reply."""

    def name(self) -> str:
        return "action_small_talk"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], turn: Turn
    ) -> list[EventType]:
        top = await article_beyond(tracker, turn)
        if top is not None:
            return await reply_with(dispatcher, tracker, latest_text(tracker), top)
        say(dispatcher, COURTESY_REPLIES.get(latest_intent(tracker) or "", "utter_how_can_i_help"))
        return []


class ActionHandoffOrAnswer(TurnAction):
    """A request for a person outside a form. An explicit one («voglio parlare con un operatore»: a word mostly the
    human_handoff examples use) is handed off; a message the NLU read as one without asking for anybody («ho un
    problema con l'ISEE, mi aiutate?») gets the knowledge base's confident article first, else the handoff. One that
    asks for somebody the URP is not («vorrei parlare con l'assistente sociale») gets the confident article on how to
    reach them, with the operator offered by a button, else the handoff."""

    def name(self) -> str:
        return "action_handoff_or_answer"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], turn: Turn
    ) -> list[EventType]:
        text = latest_text(tracker)
        someone_else = asks_for_someone_else(text)
        if someone_else or not names_intent(text, "human_handoff"):
            top = await article_beyond(tracker, turn, ("human_handoff", *COURTESY))
            if top is not None and someone_else and top.get("topic", "") not in report_topics():
                # «vorrei parlare con l'assistente sociale»: how to reach that person, and the URP still offered
                return answer_with(dispatcher, text, top, closing="utter_kb_or_operator")
            if top is not None and not someone_else:
                return await reply_with(dispatcher, tracker, text, top)
        return await hand_off(dispatcher, tracker, domain, turn)


class ActionFeedbackOrConfirm(TurnAction):
    """Sì/No: feedback on the last answer when one was asked for, otherwise a gentle prompt. A whole question the
    NLU took for a yes or a no is answered as a question, and so is a message that says more than a yes or a no
    when the knowledge base answers it confidently."""

    def name(self) -> str:
        return "action_feedback_or_confirm"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], turn: Turn
    ) -> list[EventType]:
        if looks_like_question(latest_text(tracker)):
            # a new question, not an answer to ours: no feedback is recorded
            return await answer_info(dispatcher, tracker, domain, turn)
        top = await article_beyond(tracker, turn)
        if top is not None:
            return await reply_with(dispatcher, tracker, latest_text(tracker), top)
        if tracker.get_slot("report_offered"):
            # "yes" to the offer starts the report form (rules.yml); this is the "no": nothing is filed
            say(dispatcher, "utter_report_offer_declined")
            return [SlotSet("report_offered", False), SlotSet("report_offer", None)]
        if not tracker.get_slot("awaiting_feedback"):
            say(dispatcher, "utter_how_can_i_help")
            return []
        helpful = latest_intent(tracker) == "affirm"
        try:
            await crm.kb_feedback(
                tracker.get_slot("kb_last_slug"), tracker.get_slot("kb_last_query") or "", helpful, turn.conversation_id
            )
        except CrmUnavailable:
            pass  # feedback is best effort; the citizen is not bothered with it
        say(dispatcher, "utter_kb_feedback_thanks" if helpful else "utter_kb_feedback_sorry")
        return [SlotSet("awaiting_feedback", False)]


class ActionOutOfScope(TurnAction):
    """The intent classifier is a poor judge of scope («quanto tempo ci vuole per avere la cie» reads as chit-chat):
    a confident knowledge-base answer gets the last word before the citizen is told "not here"."""

    def name(self) -> str:
        return "action_out_of_scope"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], turn: Turn
    ) -> list[EventType]:
        query = latest_text(tracker)
        if query and not query.startswith("/"):
            try:
                res = await search(tracker, turn, query)
            except CrmUnavailable:
                res = {}
            top = confident(res)
            if top is not None:
                return answer_with(dispatcher, query, top)
        say(dispatcher, "utter_out_of_scope")
        return [SlotSet("awaiting_feedback", False)]


class ActionAnswerInForm(TurnAction):
    """A question asked while a form waits for an answer («serve la fototessera?» while booking): the knowledge base
    answers it, without asking whether it helped, and the form then asks its question again (rules.yml)."""

    def name(self) -> str:
        return "action_answer_in_form"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], turn: Turn
    ) -> list[EventType]:
        return await answer_in_form(dispatcher, tracker, turn)


async def answer_in_form(dispatcher: CollectingDispatcher, tracker: Tracker, turn: Turn) -> list[EventType]:
    """The article that answers a question asked inside a form, and "let's go on" (or "not found, let's go on")."""
    query = latest_text(tracker)
    try:
        res = await search(tracker, turn, query) if query and not query.startswith("/") else {}
    except CrmUnavailable:
        res = {}
    results = res.get("results") or []
    if res.get("answerable") and results:
        top = results[0]
        say_article(dispatcher, top)
        say(dispatcher, "utter_in_form_resume")
        return [SlotSet("kb_last_slug", top["slug"]), SlotSet("kb_last_query", query)]
    say(dispatcher, "utter_in_form_no_answer")
    return []
