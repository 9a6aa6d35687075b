"""Every flow's actions, run by the real action server over HTTP exactly as Rasa calls them, against the real CRM
(its API, its knowledge base, its booking centre): no Rasa, no trained model. The texts are the domain's responses
rendered as Rasa renders them (tests/bot/action_server.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from channels.turn_token import Turn
from tests.bookings.test_bookings import next_weekday, setup_service
from tests.bot.action_server import action_server, buttons_of, call_as, said, slots_set
from tests.conftest import URP_PHONE, EnteCtx, Server, make_ente, working_days

ARTICLE = {
    "slug": "carta-identita",
    "title": "Carta d'identità elettronica",
    "topic": "anagrafe",
    "url": "https://comune.example.it/cie",
    "status": "published",
    "body": "La carta d'identità elettronica si richiede all'anagrafe su appuntamento. Servono una fototessera "
    "e il codice fiscale. Il costo è di 22,21 euro.",
    "keywords": ["CIE"],
    "phrasings": ["come rinnovo la carta d'identità"],
}

REPORT_ARTICLE = {
    "slug": "buche-strade",
    "title": "Buche stradali e lampioni spenti",
    "topic": "segnalazioni",
    "url": "https://comune.example.it/buche",
    "status": "published",
    "body": "Buche nell'asfalto, marciapiedi dissestati e lampioni spenti si segnalano all'URP indicando "
    "la via e il numero civico più vicino. Gli interventi urgenti sono eseguiti entro 24 ore.",
    "keywords": ["buca", "lampione", "marciapiede"],
    "phrasings": ["a chi segnalo una buca in strada"],
}


@dataclass
class World:
    ente: EnteCtx
    crm: httpx.Client
    contact_id: int
    other_contact_id: int
    service: dict[str, Any]
    db: Any

    def turn(self, contact_id: int | None = None, channel: str = "telegram") -> Turn:
        """A turn as the hub signs it: the contact's open conversation on the channel (made as the hub makes it)."""
        from crm.conversations import service as conversations

        contact = contact_id or self.contact_id

        async def open_one(s: Any) -> int:
            conv = await conversations.open_conversation_for(
                s, ente_id=self.ente.ente_id, contact_id=contact, channel=channel
            )
            return int(conv.id)

        return Turn(
            conversation_id=self.db.run(open_one), contact_id=contact, ente_id=self.ente.ente_id, channel=channel
        )


@pytest.fixture(scope="module")
def world(server: Server, db: Any) -> Iterator[World]:
    ente = make_ente(db)
    with httpx.Client(base_url=server.url, timeout=60) as c:
        for article in (ARTICLE, REPORT_ARTICLE):
            a = c.post("/api/v1/kb/articles", json=article, headers=ente.headers("admin"))
            assert a.status_code == 201, a.text
        people = [
            c.post(
                "/api/v1/contacts",
                headers=ente.headers("operator"),
                json={"first_name": name, "last_name": "Prova", "phones": [phone]},
            ).json()["id"]
            for name, phone in (("Ada", "+39 345 7654321"), ("Bruno", "+39 345 1112223"))
        ]
        svc = setup_service(c, ente, what_to_bring="la vecchia carta")
        yield World(ente=ente, crm=c, contact_id=people[0], other_contact_id=people[1], service=svc, db=db)


@pytest.fixture(scope="module")
def url(server: Server, world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("actions-flows") / "actions.log"
    with action_server({"URP_CRM_URL": server.url, "URP_SERVICE_TOKEN": world.ente.service_token}, log) as u:
        yield u


def test_an_article_answers_the_question_with_its_link_and_asks_if_it_helped(url: str, world: World) -> None:
    body = call_as(url, world.turn(), "action_answer_info", "come rinnovo la carta d'identità?", "ask_info")
    text = said(body)
    assert "Carta d'identità elettronica" in text and "https://comune.example.it/cie" in text
    assert "utile" in text and {b["payload"] for b in buttons_of(body)} == {"/affirm", "/deny"}
    assert slots_set(body)["kb_last_slug"] == "carta-identita" and slots_set(body)["awaiting_feedback"] is True
    turn = world.turn()
    thanks = call_as(
        url,
        turn,
        "action_feedback_or_confirm",
        "sì grazie",
        "affirm",
        slots={"awaiting_feedback": True, "kb_last_slug": "carta-identita", "kb_last_query": "cie"},
    )
    assert "Grazie del riscontro" in said(thanks)
    stats = world.crm.get("/api/v1/kb/feedback/stats", headers=world.ente.headers("admin")).json()["items"]
    assert any(s.get("slug") == "carta-identita" and s.get("helpful", 0) >= 1 for s in stats), stats


def test_no_answer_twice_hands_off_and_off_topic_is_declined(url: str, world: World) -> None:
    nothing = call_as(url, world.turn(), "action_answer_info", "asdkj qwpoe zzxv", "nlu_fallback")
    assert "Carta d'identità" not in said(nothing)
    assert "non ho trovato una risposta sicura" in said(nothing) or "non è di competenza" in said(nothing)
    elsewhere = call_as(url, world.turn(), "action_answer_info", "come rinnovo il passaporto scaduto?", "ask_info")
    assert "Questura" in said(elsewhere) and "Carta d'identità" not in said(elsewhere)
    declined = call_as(url, world.turn(), "action_out_of_scope", "chi vince il campionato?", "out_of_scope")
    assert "non posso aiutarla" in said(declined)


def test_a_report_is_filed_with_place_and_description(url: str, world: World) -> None:
    body = call_as(
        url,
        world.turn(),
        "action_submit_report",
        "via Roma 3",
        "inform",
        slots={"issue_description": "lampione spento", "issue_place": "via Roma 3"},
    )
    code = slots_set(body)["request_code"]
    assert code.startswith("RQ-") and code in said(body)
    mine = world.crm.get(
        "/api/v1/requests", params={"contact_id": world.contact_id}, headers=world.ente.headers("service")
    ).json()["items"]
    filed = next(r for r in mine if r["code"] == code)
    assert filed["subject"] == "lampione spento" and "Luogo: via Roma 3" in filed["description"]
    # its status: to its owner's channel, not to anyone else's
    status = call_as(url, world.turn(), "action_check_status", code, "check_status", slots={"request_code": code})
    assert f"La richiesta {code} («lampione spento») è ricevuta" in said(status)
    other = call_as(
        url,
        world.turn(world.other_contact_id),
        "action_check_status",
        code,
        "check_status",
        slots={"request_code": code},
    )
    assert "Non trovo una pratica" in said(other) and "lampione" not in said(other)


def test_booking_then_listing_then_cancelling(url: str, world: World) -> None:
    svc = world.service
    turn = world.turn()
    chosen = call_as(
        url,
        turn,
        "validate_booking_form",
        svc["name"],
        "book_appointment",
        active_loop="booking_form",
        slots={"requested_slot": "booking_service"},
        extracted={"booking_service": svc["name"]},
    )
    assert slots_set(chosen)["booking_service_id"] == svc["id"]
    day = next_weekday(3)
    offered = call_as(
        url,
        turn,
        "action_ask_booking_start",
        "giovedì",
        "inform",
        active_loop="booking_form",
        slots={"booking_service_id": svc["id"], "booking_day": day.strftime("%d/%m")},
    )
    starts = [b["payload"].split('"')[3] for b in buttons_of(offered)]
    assert starts and all(s.startswith(day.isoformat()) for s in starts), said(offered)
    booking = {
        "booking_service": svc["slug"],
        "booking_service_id": svc["id"],
        "booking_start": starts[0],
        "booking_name": "Ada Prova",
    }
    summary = call_as(
        url, turn, "action_ask_booking_confirm", "Ada Prova", "inform", slots=booking, active_loop="booking_form"
    )
    assert "Riepilogo" in said(summary) and "a nome di Ada Prova" in said(summary)
    done = call_as(url, turn, "action_book", "sì", "affirm", slots={**booking, "booking_confirm": True})
    assert "Fatto! Appuntamento confermato" in said(done) and "Porti con sé: la vecchia carta" in said(done)
    code = next(w for w in said(done).replace(".", " ").split() if w.startswith("AN-"))
    listed = call_as(url, world.turn(), "action_list_appointments", "che appuntamenti ho?", "list_appointments")
    assert code in said(listed)
    # cancelling: the channel's only booking is picked up, the citizen confirms, it is cancelled
    asked = call_as(
        url,
        turn,
        "validate_cancel_form",
        "annulla il mio appuntamento",
        "cancel_appointment",
        active_loop="cancel_form",
    )
    target = slots_set(asked)
    assert target["cancel_code"] == code and target["cancel_owned"] is True
    gone = call_as(
        url,
        turn,
        "action_cancel_appointment",
        "sì",
        "affirm",
        slots={
            "cancel_booking_id": target["cancel_booking_id"],
            "cancel_summary": target["cancel_summary"],
            "cancel_confirm": True,
        },
    )
    assert "è stato annullato" in said(gone)
    assert "Non risultano appuntamenti" in said(
        call_as(url, world.turn(), "action_list_appointments", "i miei appuntamenti", "list_appointments")
    )


def test_the_name_given_in_the_booking_form_is_the_contacts_from_then_on(url: str, world: World) -> None:
    """Identity captured once: an anonymous Telegram citizen books giving name, phone and e-mail; the contact holds
    them afterwards (nobody retypes them)."""
    from crm.contacts import service as contacts

    async def anonymous(s: Any) -> int:
        c, _ = await contacts.find_or_create_by_identity(
            s, ente_id=world.ente.ente_id, channel="telegram", external_id="tg-capture-1"
        )
        return int(c.id)

    cid = world.db.run(anonymous)
    turn = world.turn(contact_id=cid)
    svc = world.service
    offered = call_as(
        url,
        turn,
        "action_ask_booking_start",
        "venerdì",
        "inform",
        active_loop="booking_form",
        slots={"booking_service_id": svc["id"], "booking_day": next_weekday(4).strftime("%d/%m")},
    )
    start = [b["payload"].split('"')[3] for b in buttons_of(offered)][-1]
    booking = {
        "booking_service": svc["slug"],
        "booking_service_id": svc["id"],
        "booking_start": start,
        "booking_name": "Carla Fontana",
        "booking_phone": "+393391234567",
        "booking_email": "carla.fontana@example.it",
        "booking_confirm": True,
    }
    done = call_as(url, turn, "action_book", "sì", "affirm", slots=booking)
    assert "Appuntamento confermato" in said(done), said(done)
    c = world.crm.get(f"/api/v1/contacts/{cid}", headers=world.ente.headers("operator")).json()
    assert (c["first_name"], c["last_name"]) == ("Carla", "Fontana")
    assert c["phones"] == ["+393391234567"] and c["emails"] == ["carla.fontana@example.it"]


def test_a_question_the_nlu_sent_to_a_flow_that_cannot_serve_it_gets_its_article(url: str, world: World) -> None:
    """No appointments to list, no code to check, nothing to cancel: the knowledge base answers before the dead end;
    what it cannot answer still gets the flow's own reply."""
    nobody = world.crm.post(
        "/api/v1/contacts",
        headers=world.ente.headers("operator"),
        json={"first_name": "Carla", "last_name": "Prova", "phones": ["+39 345 9990001"]},
    ).json()
    question = "quanto costa rinnovare la carta d'identità?"
    listed = call_as(url, world.turn(nobody["id"]), "action_list_appointments", question, "list_appointments")
    assert "Carta d'identità elettronica" in said(listed) and "Non risultano appuntamenti" not in said(listed)
    assert slots_set(listed)["kb_last_slug"] == "carta-identita"
    assert "Non risultano appuntamenti" in said(
        call_as(url, world.turn(nobody["id"]), "action_list_appointments", "i miei appuntamenti", "list_appointments")
    )
    # the status form starting without a code: the article, and the form ends without asking for one
    status = call_as(
        url, world.turn(nobody["id"]), "validate_status_form", question, "check_status", active_loop="status_form"
    )
    assert "Carta d'identità elettronica" in said(status) and slots_set(status)["request_code"] == "-"
    assert slots_set(status).get("awaiting_feedback") is True, status["events"]  # "was it useful?": the yes/no counts
    ended = call_as(
        url, world.turn(nobody["id"]), "action_check_status", question, "check_status", slots={"request_code": "-"}
    )
    assert said(ended) == "" and slots_set(ended)["request_code"] is None
    unknown = call_as(
        url,
        world.turn(nobody["id"]),
        "validate_status_form",
        "a che punto è la mia pratica?",
        "check_status",
        active_loop="status_form",
    )
    assert slots_set(unknown).get("request_code") is None and said(unknown) == ""  # the form asks for the code
    # the cancel form with nothing to cancel and no code
    cancel = call_as(
        url, world.turn(nobody["id"]), "validate_cancel_form", question, "cancel_appointment", active_loop="cancel_form"
    )
    assert "Carta d'identità elettronica" in said(cancel) and slots_set(cancel)["awaiting_feedback"] is True
    assert slots_set(cancel)["cancel_code"] == "-" and slots_set(cancel).get("cancel_booking_id") is None
    kept = call_as(
        url,
        world.turn(nobody["id"]),
        "action_cancel_appointment",
        question,
        "cancel_appointment",
        slots={"cancel_code": "-", "cancel_confirm": False},
    )
    assert said(kept) == ""
    plain = call_as(
        url,
        world.turn(nobody["id"]),
        "validate_cancel_form",
        "annullate il mio appuntamento",
        "cancel_appointment",
        active_loop="cancel_form",
    )
    assert slots_set(plain).get("cancel_code") is None and said(plain) == ""  # the form asks for the code


def test_a_report_it_article_becomes_the_offer_and_yes_carries_what_was_said(url: str, world: World) -> None:
    question = "c'è una buca profonda nell'asfalto in via Ostiense, a chi lo devo segnalare?"
    place = [{"entity": "place", "value": "via Ostiense", "start": 46, "end": 58}]
    offer = call_as(url, world.turn(), "action_answer_info", question, "ask_info", entities=place)
    text = said(offer)
    assert "vuole che proceda" in text and "Buche stradali e lampioni spenti" in text and "utile" not in text
    assert {b["payload"] for b in buttons_of(offer)} == {"/affirm", "/deny"}
    kept = slots_set(offer)
    assert kept["report_offered"] is True and kept["awaiting_feedback"] is False
    # "sì": rules.yml starts report_form, whose first run fills what was said and asks only for what is missing
    started = call_as(
        url,
        world.turn(),
        "validate_report_form",
        "sì",
        "affirm",
        active_loop="report_form",
        slots={"report_offered": True, "report_offer": kept["report_offer"]},
    )
    filled = slots_set(started)
    assert filled["issue_description"] == question and filled["issue_place"] == "via Ostiense"
    assert filled["report_offered"] is False and filled["report_offer"] is None
    # "no": nothing is filed and the offer is dropped
    declined = call_as(
        url,
        world.turn(),
        "action_feedback_or_confirm",
        "no grazie",
        "deny",
        slots={"report_offered": True, "report_offer": kept["report_offer"]},
    )
    assert "non registro nulla" in said(declined) and slots_set(declined)["report_offered"] is False
    # an article that is not "report it" is shown as it is
    cie = call_as(url, world.turn(), "action_answer_info", "come rinnovo la carta d'identità?", "ask_info")
    assert "Carta d'identità elettronica" in said(cie) and slots_set(cie)["report_offered"] is False


def test_the_report_form_starts_with_the_problem_already_described(url: str, world: World) -> None:
    described = call_as(
        url,
        world.turn(),
        "validate_report_form",
        "il lampione davanti al bar è spento da giorni",
        "report_issue",
        active_loop="report_form",
    )
    assert slots_set(described)["issue_description"] == "il lampione davanti al bar è spento da giorni"
    for generic in ("vorrei fare una segnalazione", "devo segnalare un problema in strada", "/report_issue"):
        body = call_as(url, world.turn(), "validate_report_form", generic, "report_issue", active_loop="report_form")
        assert "issue_description" not in slots_set(body), generic  # the form asks for the description


def test_a_follow_up_is_answered_from_the_article_just_given(url: str, world: World) -> None:
    """«e quanto costa?» after the CIE's answer: the CIE's price, even read as off-topic; without an article in
    context the same words are not taken for it, and a new question after it is searched on its own."""
    after = {"kb_last_slug": "carta-identita"}
    cost = call_as(url, world.turn(), "action_answer_info", "e quanto costa?", "ask_info", slots=after)
    assert "Carta d'identità elettronica" in said(cost) and "22,21 euro" in said(cost), said(cost)
    assert slots_set(cost)["kb_last_slug"] == "carta-identita" and slots_set(cost)["awaiting_feedback"] is True
    oos = call_as(url, world.turn(), "action_out_of_scope", "e quanto costa?", "out_of_scope", slots=after)
    assert "22,21 euro" in said(oos), said(oos)
    alone = call_as(url, world.turn(), "action_out_of_scope", "e quanto costa?", "out_of_scope")
    assert "22,21 euro" not in said(alone)
    new = call_as(url, world.turn(), "action_answer_info", "c'è una buca in via Ostiense", "ask_info", slots=after)
    assert "Carta d'identità" not in said(new), said(new)


def test_a_courtesy_the_kb_cannot_answer_is_not_a_gap_and_a_request_for_a_person_is(url: str, world: World) -> None:
    """«buonasera, avrei una domanda» says more than a greeting, so the KB is asked first; it finds nothing and the
    citizen is greeted: the curators' gap list does not get the greeting. A request for a person about something the
    KB does not cover is handed off, and is a gap."""
    ente = world.ente.headers("admin")

    def gaps() -> int:
        return int(world.crm.get("/api/v1/kb/gaps", headers=ente).json()["questions"])

    before = gaps()
    greeting = call_as(url, world.turn(), "action_small_talk", "buonasera, avrei una domanda", "greet")
    assert said(greeting).startswith("Buon"), said(greeting)
    thanks = call_as(url, world.turn(), "action_small_talk", "grazie mille, siete stati gentilissimi oggi", "thank")
    assert said(thanks).startswith("Prego"), said(thanks)
    no = call_as(url, world.turn(), "action_feedback_or_confirm", "no, adesso devo scappare al lavoro", "deny")
    assert said(no), no
    assert gaps() == before
    person = "mi aiutate per la successione di mio nonno?"
    handed = call_as(url, world.turn(), "action_handoff_or_answer", person, "human_handoff")
    assert "operatore" in said(handed) or "richiamata" in said(handed), said(handed)
    assert gaps() == before + 1


def test_a_courtesy_that_asks_more_gets_the_article_and_a_plain_one_its_reply(url: str, world: World) -> None:
    """The NLU read a whole question as a thank-you, a goodbye, a no or a request for a person: the message says more
    than those intents' examples ever do, so the knowledge base's confident article is the reply. A plain courtesy
    gets its own reply (the KB is not even asked), and an explicit request for a person is handed off."""
    question = "grazie, e quanto costa rinnovare la carta d'identità?"
    thanked = call_as(url, world.turn(), "action_small_talk", question, "thank")
    assert "Carta d'identità elettronica" in said(thanked) and "22,21 euro" in said(thanked), said(thanked)
    assert slots_set(thanked)["awaiting_feedback"] is True and slots_set(thanked)["kb_last_slug"] == "carta-identita"
    # right after an article a plain thank-you is not a follow-up about it
    after = {"kb_last_slug": "carta-identita", "awaiting_feedback": True}
    plain = call_as(url, world.turn(), "action_small_talk", "grazie mille, gentilissimi", "thank", slots=after)
    assert said(plain).startswith("Prego") and "Carta d'identità" not in said(plain) and not slots_set(plain)
    follow_up = call_as(url, world.turn(), "action_small_talk", "e quanto costa?", "goodbye", slots=after)
    assert "22,21 euro" in said(follow_up), said(follow_up)  # a follow-up about the article, read as a goodbye
    bye = call_as(url, world.turn(), "action_small_talk", "arrivederci, buona giornata", "goodbye", slots=after)
    assert said(bye).startswith("Arrivederci") and "Carta d'identità" not in said(bye)
    hello = call_as(url, world.turn(), "action_small_talk", "buongiorno, avrei bisogno", "greet")
    assert said(hello).startswith("Buongiorno") and "Carta d'identità" not in said(hello)
    # a no that asks something else (no question mark): the article, not the feedback
    no = call_as(
        url,
        world.turn(),
        "action_feedback_or_confirm",
        "no, volevo sapere come si rinnova la carta d'identità",
        "deny",
        slots={"awaiting_feedback": True, "kb_last_slug": "buche-strade", "kb_last_query": "buca"},
    )
    assert "Carta d'identità elettronica" in said(no) and "Mi dispiace" not in said(no), said(no)
    kept = call_as(
        url,
        world.turn(),
        "action_feedback_or_confirm",
        "no, non era quello che mi serviva",
        "deny",
        slots=after | {"kb_last_query": "cie"},
    )
    assert "Carta d'identità" not in said(kept) and slots_set(kept) == {"awaiting_feedback": False}
    # read as a request for a person without asking for anybody: the article; asking for one: the handoff
    asked = call_as(url, world.turn(), "action_handoff_or_answer", question, "human_handoff")
    assert "Carta d'identità elettronica" in said(asked) and "operatore" not in said(asked), said(asked)
    # «con» is mostly the handoff examples' word («parlare con un operatore») but a function word: no request
    problem = "ho un problema con la carta d'identità elettronica"
    helped = call_as(url, world.turn(), "action_handoff_or_answer", problem, "human_handoff")
    assert "Carta d'identità elettronica" in said(helped) and "operatore" not in said(helped), said(helped)
    person = call_as(
        url,
        world.turn(),
        "action_handoff_or_answer",
        "voglio parlare con un operatore della carta d'identità",
        "human_handoff",
    )
    assert "Carta d'identità elettronica" not in said(person)
    assert "operatore" in said(person) or "richiamata" in said(person), said(person)


def test_asked_for_somebody_the_urp_is_not_the_article_on_reaching_them_and_the_operator_offered(
    url: str, world: World
) -> None:
    """«vorrei parlare con l'assistente sociale»: the URP is not the social worker; the article on how to reach one
    answers, with a button for the operator (which hands off). «voglio parlare con un operatore» is handed off."""
    social = {
        "slug": "assistente-sociale-test",
        "title": "Colloquio con l'assistente sociale",
        "topic": "sociale",
        "status": "published",
        "body": "Per un colloquio con l'assistente sociale del Segretariato sociale si prenota un appuntamento; i "
        "colloqui si tengono il martedì e il giovedì in via Garibaldi 4.",
        "keywords": ["assistente sociale", "servizi sociali"],
        "phrasings": ["vorrei un colloquio con l'assistente sociale"],
    }
    r = world.crm.post("/api/v1/kb/articles", json=social, headers=world.ente.headers("admin"))
    assert r.status_code in (201, 409), r.text
    text = "vorrei parlare con l'assistente sociale del comune"
    asked = call_as(url, world.turn(), "action_handoff_or_answer", text, "human_handoff")
    assert "Colloquio con l'assistente sociale" in said(asked) and "via Garibaldi 4" in said(asked), said(asked)
    assert "Se preferisce parlare con un operatore dell'URP" in said(asked) and "richiamata" not in said(asked)
    assert {"title": "Parlare con un operatore", "payload": "/human_handoff"} in buttons_of(asked)
    assert slots_set(asked)["kb_last_slug"] == "assistente-sociale-test" and not slots_set(asked)["awaiting_feedback"]
    pressed = call_as(url, world.turn(), "action_handoff_or_answer", "/human_handoff", "human_handoff")
    operator = call_as(
        url, world.turn(), "action_handoff_or_answer", "voglio parlare con un operatore", "human_handoff"
    )
    for handed in (pressed, operator):
        assert "Colloquio" not in said(handed), said(handed)
        assert "operatore" in said(handed) or "richiamata" in said(handed), said(handed)


def test_a_booking_start_that_asks_something_else_gets_the_article(url: str, world: World) -> None:
    """The NLU read a question as a booking: it names no service and does not ask to book in so many words, so the
    knowledge base answers it first and the form ends booking nothing; «vorrei prenotare un appuntamento» starts
    the form as always."""
    question = "quanto si paga il documento elettronico all'anagrafe?"
    answered = call_as(
        url, world.turn(), "validate_booking_form", question, "book_appointment", active_loop="booking_form"
    )
    assert "Carta d'identità elettronica" in said(answered) and "22,21 euro" in said(answered), said(answered)
    assert slots_set(answered)["booking_service"] == "-" and slots_set(answered)["awaiting_feedback"] is True
    ended = call_as(url, world.turn(), "action_book", question, "book_appointment", slots={"booking_service": "-"})
    assert said(ended) == "" and slots_set(ended)["booking_service"] is None
    plain = call_as(
        url,
        world.turn(),
        "validate_booking_form",
        "vorrei prenotare un appuntamento",
        "book_appointment",
        active_loop="booking_form",
    )
    assert said(plain) == "" and not slots_set(plain).get("booking_service")  # the form asks for the service
    named = call_as(
        url,
        world.turn(),
        "validate_booking_form",
        "mi serve un appuntamento per la carta d'identità scaduta",
        "book_appointment",
        active_loop="booking_form",
    )
    assert slots_set(named).get("booking_service") != "-" and "Carta d'identità elettronica" not in said(named)


def test_a_report_or_istanza_start_the_knowledge_base_answers_files_nothing(url: str, world: World) -> None:
    """The NLU read a question as a report or an istanza: a confident article that is not "report it" answers it and
    the form ends filing nothing; a "report it" article leaves the report form to file it; a request that says
    nothing about its subject starts the istanza form as before."""
    question = "quanto costa rinnovare la carta d'identità?"
    report = call_as(url, world.turn(), "validate_report_form", question, "report_issue", active_loop="report_form")
    assert "Carta d'identità elettronica" in said(report) and slots_set(report)["awaiting_feedback"] is True
    assert slots_set(report)["issue_description"] == "-" and slots_set(report)["issue_place"] == "-"
    nothing = call_as(
        url,
        world.turn(),
        "action_submit_report",
        question,
        "report_issue",
        slots={"issue_description": "-", "issue_place": "-"},
    )
    assert said(nothing) == "" and slots_set(nothing)["issue_description"] is None
    # asked where the problem is, a message read as another request is answered, not filed as the place
    asked = {"requested_slot": "issue_place", "issue_description": "il lampione è spento"}
    form = {"active_loop": "report_form", "slots": asked}
    aside = call_as(
        url,
        world.turn(),
        "validate_report_form",
        question,
        "cancel_appointment",
        extracted={"issue_place": question},
        **form,
    )
    assert "22,21 euro" in said(aside) and "Riprendiamo da dove eravamo" in said(aside), said(aside)
    assert slots_set(aside)["issue_place"] is None
    where = {"issue_place": "via Ostiense 40"}
    place = call_as(url, world.turn(), "validate_report_form", "via Ostiense 40", "inform", extracted=where, **form)
    assert slots_set(place)["issue_place"] == "via Ostiense 40"
    lamp = "il lampione davanti alla farmacia è spento da giorni"
    filed = call_as(url, world.turn(), "validate_report_form", lamp, "report_issue", active_loop="report_form")
    assert slots_set(filed)["issue_description"] == lamp and "vuole che proceda" not in said(filed)
    istanza = call_as(
        url, world.turn(), "validate_instance_form", question, "submit_instance", active_loop="instance_form"
    )
    assert "Carta d'identità elettronica" in said(istanza) and slots_set(istanza)["instance_subject"] == "-"
    ended = call_as(
        url,
        world.turn(),
        "action_submit_instance",
        question,
        "submit_instance",
        slots={"instance_subject": "-", "instance_description": "-"},
    )
    assert said(ended) == "" and slots_set(ended)["instance_subject"] is None
    for generic in ("vorrei presentare un'istanza al comune", "/submit_instance", "voglio chiedere un nulla osta"):
        body = call_as(
            url, world.turn(), "validate_instance_form", generic, "submit_instance", active_loop="instance_form"
        )
        assert not slots_set(body).get("instance_subject") and "Carta" not in said(body), generic


def test_a_second_problem_told_when_asked_where_is_filed_after_the_first_not_as_its_place(
    url: str, world: World
) -> None:
    """Asked where the mattress is, the citizen writes «c'è un lampione che lampeggia da giorni»: it was filed as the
    mattress's place. Now it is kept, the place is asked again, and once the first report is filed the second one's
    form starts with its description; a place the NLU read as a report is still the place."""
    lamp = "c'è un lampione che lampeggia da giorni"
    first = "qualcuno ha lasciato un materasso vicino ai cassonetti"
    form = {"active_loop": "report_form", "slots": {"requested_slot": "issue_place", "issue_description": first}}
    aside = call_as(
        url, world.turn(), "validate_report_form", lamp, "report_issue", extracted={"issue_place": lamp}, **form
    )
    assert slots_set(aside)["issue_place"] is None and slots_set(aside)["issue_next"] == lamp, aside
    assert f"Ho preso nota anche di questo: «{lamp}»" in said(aside) and first in said(aside)
    where = "davanti al supermercato"  # no place entity, read as a report: no word of a problem, so the place
    place = call_as(
        url, world.turn(), "validate_report_form", where, "report_issue", extracted={"issue_place": where}, **form
    )
    assert slots_set(place)["issue_place"] == where and "issue_next" not in slots_set(place)
    filed = call_as(
        url,
        world.turn(),
        "action_submit_report",
        "via Roma 3",
        "inform",
        slots={"issue_description": first, "issue_place": "via Roma 3", "issue_next": lamp},
    )
    events = filed["events"]
    assert slots_set(filed)["request_code"].startswith("RQ-") and slots_set(filed)["issue_description"] == lamp
    assert slots_set(filed)["issue_place"] is None and slots_set(filed)["issue_next"] == lamp
    assert events[-1] == {"event": "followup", "name": "report_form", "timestamp": None}, events
    assert f"Ora registriamo l'altro problema: «{lamp}»" in said(filed)
    # the lamp's form starts in the same turn: «via Roma 3», still the message in hand, is not its place
    chain = {"issue_description": lamp, "issue_next": lamp}
    started = call_as(
        url,
        world.turn(),
        "validate_report_form",
        "via Roma 3",
        "inform",
        active_loop="report_form",
        slots=chain,
        extracted={"issue_place": "via Roma 3"},
    )
    assert slots_set(started)["issue_place"] is None and slots_set(started)["issue_next"] is None, started
    mine = world.crm.get(
        "/api/v1/requests", params={"contact_id": world.contact_id}, headers=world.ente.headers("service")
    ).json()["items"]
    assert any(r["subject"] == first and "Luogo: via Roma 3" in r["description"] for r in mine), mine


def test_a_question_inside_a_form_is_answered_without_asking_if_it_helped(url: str, world: World) -> None:
    body = call_as(
        url,
        world.turn(),
        "action_answer_in_form",
        "quanto costa la carta d'identità?",
        "ask_info",
        active_loop="booking_form",
        slots={"requested_slot": "booking_service"},
    )
    text = said(body)
    assert "22,21 euro" in text and "Riprendiamo da dove eravamo" in text and "utile" not in text
    assert "requested_slot" not in slots_set(body) and "awaiting_feedback" not in slots_set(body)
    unknown = call_as(
        url,
        world.turn(),
        "action_answer_in_form",
        "qwzx plokm asdfg?",
        "ask_info",
        active_loop="booking_form",
        slots={"requested_slot": "booking_service"},
    )
    assert "non ho trovato una risposta sicura" in said(unknown) and "Riprendiamo" in said(unknown)
    # a question is never taken as the answer the form waits for
    phone = call_as(
        url,
        world.turn(),
        "validate_booking_form",
        "serve anche il numero di telefono?",
        "ask_info",
        active_loop="booking_form",
        slots={"requested_slot": "booking_phone"},
    )
    assert "booking_phone" not in slots_set(phone)


def test_booking_says_when_a_slot_cannot_be_cancelled_online(url: str, world: World) -> None:
    """Slots are offered from the minimum notice, online cancellation closes earlier: no booking falls in between
    unannounced. Here cancellation closes 4 days ahead and the office is open every day."""
    from datetime import datetime, timedelta

    from actions.common import ROME

    svc = setup_service(
        world.crm, world.ente, cancel_deadline_hours=96, max_active_per_citizen=5, max_per_day_per_citizen=5
    )
    turn = world.turn()
    now = datetime.now(ROME)
    # the first available: only slots that can still be cancelled online, and the citizen is told why
    first = call_as(
        url,
        turn,
        "action_ask_booking_start",
        "prenota",
        "book_appointment",
        active_loop="booking_form",
        slots={"booking_service_id": svc["id"]},
    )
    starts = [b["payload"].split('"')[3] for b in buttons_of(first)]
    assert starts and all(datetime.fromisoformat(s) - timedelta(hours=96) > now for s in starts), starts
    assert "che potrà ancora annullare online" in said(first) and "4 giorni prima" in said(first)
    assert not [b for b in buttons_of(first) if "non annullabile" in b["title"]]
    # a day inside the window, asked for by the citizen: offered, each slot marked, and a warning first
    day = working_days(2)  # not a holiday: the office is closed then, no slots to offer
    near = call_as(
        url,
        turn,
        "action_ask_booking_start",
        day.strftime("%d/%m"),
        "inform",
        active_loop="booking_form",
        slots={"booking_service_id": svc["id"], "booking_day": day.strftime("%d/%m")},
    )
    assert said(near).startswith("Attenzione: gli orari segnati «non annullabile online»"), said(near)
    late = buttons_of(near)
    assert late and all(b["title"].endswith(" (non annullabile online)") for b in late), late
    late_start = late[0]["payload"].split('"')[3]
    # before the yes: the summary says it cannot be cancelled online and whom to call
    booking = {"booking_service": svc["slug"], "booking_service_id": svc["id"], "booking_name": "Ada Prova"}
    summary = said(
        call_as(
            url,
            turn,
            "action_ask_booking_confirm",
            "Ada Prova",
            "inform",
            slots={**booking, "booking_start": late_start},
            active_loop="booking_form",
        )
    )
    assert "Attenzione: questo appuntamento non si potrà annullare online" in summary
    assert f"dovrà chiamare l'URP allo {URP_PHONE}" in summary and summary.endswith("Confermo?")
    done = said(
        call_as(
            url,
            turn,
            "action_book",
            "sì",
            "affirm",
            slots={**booking, "booking_start": late_start, "booking_confirm": True},
        )
    )
    assert "Fatto! Appuntamento confermato" in done, done
    assert (
        f"Questo appuntamento non si può annullare online: se non potesse venire, chiami l'URP allo {URP_PHONE}" in done
    )
    # a slot outside the window: the summary and the confirmation give the deadline and how to cancel
    fine_start = starts[0]
    deadline = datetime.fromisoformat(fine_start) - timedelta(hours=96)
    from actions.common import when_label

    summary = said(
        call_as(
            url,
            turn,
            "action_ask_booking_confirm",
            "Ada Prova",
            "inform",
            slots={**booking, "booking_start": fine_start},
            active_loop="booking_form",
        )
    )
    assert f"Potrà annullarlo online fino a {when_label(deadline.isoformat())}." in summary
    assert "Attenzione" not in summary
    done = said(
        call_as(
            url,
            turn,
            "action_book",
            "sì",
            "affirm",
            slots={**booking, "booking_start": fine_start, "booking_confirm": True},
        )
    )
    code = next(w for w in done.replace(".", " ").split() if w.startswith("AN-"))
    assert (
        f"Se non potesse venire, può annullarlo online fino a {when_label(deadline.isoformat())}: mi scriva "
        f"«annulla appuntamento» con il codice {code}."
    ) in done, done
    # and the CRM agrees: the assistant (the service token) may cancel the second, not the first
    mine = {
        datetime.fromisoformat(b["start"]): b["id"]
        for b in world.crm.get(
            "/api/v1/bookings",
            params={"contact_id": world.contact_id, "service_id": svc["id"]},
            headers=world.ente.headers("service"),
        ).json()["items"]
    }
    h = world.ente.headers("service")
    assert (
        world.crm.post(
            f"/api/v1/bookings/{mine[datetime.fromisoformat(late_start)]}/cancel", json={}, headers=h
        ).status_code
        == 422
    )
    assert (
        world.crm.post(
            f"/api/v1/bookings/{mine[datetime.fromisoformat(fine_start)]}/cancel", json={}, headers=h
        ).status_code
        == 200
    )


def test_a_guesser_is_stopped_and_told_the_urps_phone_from_the_ente(url: str, world: World) -> None:
    """Wrong second factors for someone else's booking code: the CRM throttles, the bot quotes the desk's phone."""
    turn = world.turn(world.other_contact_id)
    texts = []
    for _ in range(7):
        body = call_as(
            url,
            turn,
            "validate_cancel_form",
            "1234",
            "inform",
            active_loop="cancel_form",
            slots={"requested_slot": "cancel_second_factor", "cancel_code": "AN-ZZZZ9", "cancel_owned": False},
        )
        texts.append(said(body))
    assert any("troppi tentativi" in t and URP_PHONE in t for t in texts), texts


def test_an_istanza_gets_its_code_and_protocol(url: str, world: World) -> None:
    body = call_as(
        url,
        world.turn(),
        "action_submit_instance",
        "dettagli",
        "inform",
        slots={"instance_subject": "Patrocinio sagra", "instance_description": "Chiediamo il patrocinio."},
    )
    text = said(body)
    assert "La sua istanza è stata presentata con il codice IS-" in text or "Non sono riuscito" in text


def test_handoff_follows_the_desk(url: str, world: World, db: Any) -> None:
    """Open: the conversation joins the queue. Closed: a callback with its code, the next opening and the hours."""
    from crm.entes import service as entes

    def hours(spec: str) -> None:
        async def work(s: Any) -> None:
            await entes.set_office_hours(s, ente_id=world.ente.ente_id, office_hours=spec, patron_day=None)

        db.run(work)

    hours("mon-sun 00:00-23:59")
    opened = call_as(url, world.turn(channel="web"), "action_handoff", "voglio un operatore", "human_handoff")
    assert "La sto mettendo in contatto con un operatore" in said(opened)
    hours("sun 03:00-05:00")  # closed now (unless the test runs on a Sunday night)
    closed = call_as(url, world.turn(channel="sms"), "action_handoff", "voglio un operatore", "human_handoff")
    text = said(closed)
    assert "l'URP è chiuso" in text and "RQ-" in text and "domenica 3:00-5:00" in text, text
    hours("mon-fri 08:00-12:30,14:00-17:00")
