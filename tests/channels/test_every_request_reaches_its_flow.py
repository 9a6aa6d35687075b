"""Every request reaches its flow, end to end on Telegram (real Rasa, real action server, real CRM): a described
problem starts the report form with what was already said, an article whose content is "report it" becomes the offer
to file it, and a question asked in the middle of a form is answered before the form asks again."""

from __future__ import annotations

import pytest

from tests.channels.conftest import Stack
from tests.channels.test_channels import _buttons, _n, _said, tg_update

REPORT_ARTICLE = {
    "slug": "buche-test",
    "title": "Buche e marciapiedi dissestati",
    "topic": "segnalazioni",
    "status": "published",
    "url": "https://comune.example.it/buche",
    "body": "Buche nell'asfalto, tombini rotti e marciapiedi dissestati si segnalano all'URP indicando la via e il "
    "numero civico più vicino. Gli interventi urgenti sono eseguiti entro 24 ore.",
    "keywords": ["buca", "asfalto", "tombino", "marciapiede"],
    "phrasings": ["a chi segnalo una buca in strada"],
}
FEE_ARTICLE = {
    "slug": "cie-costo-test",
    "title": "Carta d'identità: quanto costa",
    "topic": "anagrafe",
    "status": "published",
    "url": "https://comune.example.it/cie-costo",
    "body": "La carta d'identità elettronica costa 22,21 euro, da pagare allo sportello con carta o bancomat.",
    "keywords": ["CIE", "costo"],
    "phrasings": ["quanto costa la carta d'identità"],
}
SOCIAL_ARTICLE = {
    "slug": "assistente-sociale-flow-test",
    "title": "Colloquio con l'assistente sociale",
    "topic": "sociale",
    "status": "published",
    "url": "https://comune.example.it/assistente-sociale",
    "body": "Per un colloquio con l'assistente sociale del Segretariato sociale si prenota un appuntamento; i colloqui "
    "si tengono il martedì e il giovedì in via Garibaldi 4.",
    "keywords": ["assistente sociale", "servizi sociali"],
    "phrasings": ["vorrei un colloquio con l'assistente sociale"],
}


@pytest.fixture(scope="module")
def articles(stack: Stack) -> None:
    with stack.client() as c:
        for a in (REPORT_ARTICLE, FEE_ARTICLE, SOCIAL_ARTICLE):
            r = c.post("/api/v1/kb/articles", headers=stack.ente.headers("admin"), json=a)
            assert r.status_code in (201, 409), r.text


def _chat(stack: Stack, user: int) -> list[str]:
    return [r["text"] for r in stack.telegram.requests if r["chat_id"] == user]


def _reports(stack: Stack, q: str) -> list[dict]:  # type: ignore[type-arg]
    with stack.client() as c:
        return c.get(
            "/api/v1/requests", params={"kind": "report", "q": q}, headers=stack.ente.headers("operator")
        ).json()["items"]


def test_a_described_problem_is_filed_with_what_was_already_said(stack: Stack, needs_rasa, articles) -> None:  # type: ignore[no-untyped-def]
    """«il semaforo in via Belfiore 12 lampeggia giallo da ieri»: the form does not ask again for the description;
    the place named in the message is kept (or asked for, when the NLU did not find it)."""
    user = 1_100_000 + next(_n)
    tg_update(stack, user, "il semaforo all'incrocio di via Belfiore 12 lampeggia giallo da ieri")
    seen = stack.telegram.wait_for(
        lambda r: (
            r["chat_id"] == user
            and any(k in (r["text"] or "") for k in ("Dove si trova", "segnalazione è registrata", "vuole che proceda"))
        ),
        timeout=60,
    )
    assert seen, _chat(stack, user)
    assert not any("Mi descriva il problema" in t for t in _chat(stack, user)), _chat(stack, user)
    if "vuole che proceda" in (seen[-1]["text"] or ""):
        tg_update(stack, user, callback=_buttons(seen[-1])["Sì, registra la segnalazione"])
    if not _said(stack, user, "segnalazione è registrata", timeout=20):
        assert _said(stack, user, "Dove si trova"), _chat(stack, user)
        tg_update(stack, user, "via Belfiore 12")
        assert _said(stack, user, "segnalazione è registrata"), _chat(stack, user)
    filed = [r for r in _reports(stack, "semaforo") if "lampeggia giallo" in (r.get("subject") or "")]
    assert filed and "via Belfiore 12" in filed[0]["description"], filed


def test_the_report_it_article_becomes_the_offer_and_yes_starts_the_form(stack: Stack, needs_rasa, articles) -> None:  # type: ignore[no-untyped-def]
    user = 1_110_000 + next(_n)
    # the NLU reads this as a question (ask_info); the knowledge base's article on holes says "report it"
    tg_update(stack, user, "a chi bisogna rivolgersi per una buca pericolosa sull'asfalto?")
    offer = _said(stack, user, "vuole che proceda")
    assert offer, _chat(stack, user)
    assert set(_buttons(offer[-1])) == {"Sì, registra la segnalazione", "No, grazie"}
    tg_update(stack, user, "sì")
    assert _said(stack, user, "Dove si trova"), _chat(stack, user)  # the description is what was said
    tg_update(stack, user, "davanti al civico 40 di via Ostiense")
    assert _said(stack, user, "segnalazione è registrata"), _chat(stack, user)
    filed = [r for r in _reports(stack, "buca") if "buca pericolosa sull'asfalto" in (r.get("subject") or "")]
    assert filed and "via Ostiense" in filed[0]["description"], filed
    # "no" to the offer files nothing
    other = 1_120_000 + next(_n)
    tg_update(stack, other, "a chi mi rivolgo per un tombino senza coperchio?")
    assert _said(stack, other, "vuole che proceda"), _chat(stack, other)
    tg_update(stack, other, "no grazie")
    assert _said(stack, other, "non registro nulla"), _chat(stack, other)
    assert not [r for r in _reports(stack, "tombino") if "senza coperchio" in (r.get("subject") or "")]


def test_a_second_problem_told_when_asked_where_is_filed_after_the_first(stack: Stack, needs_rasa, articles) -> None:  # type: ignore[no-untyped-def]
    """Asked where the mattress is, the citizen tells another problem: it used to become the mattress's place. Now
    the place is asked again, the mattress is filed where the citizen says, then the lamp's form asks where it is."""
    user = 1_140_000 + next(_n)
    tg_update(stack, user, "qualcuno ha lasciato un materasso vicino ai cassonetti")
    seen = stack.telegram.wait_for(
        lambda r: r["chat_id"] == user and any(k in (r["text"] or "") for k in ("Dove si trova", "vuole che proceda")),
        timeout=60,
    )
    assert seen, _chat(stack, user)
    if "vuole che proceda" in (seen[-1]["text"] or ""):
        tg_update(stack, user, callback=_buttons(seen[-1])["Sì, registra la segnalazione"])
        assert _said(stack, user, "Dove si trova"), _chat(stack, user)
    tg_update(stack, user, "c'è un lampione che lampeggia da giorni")
    assert _said(stack, user, "Ho preso nota anche di questo"), _chat(stack, user)
    assert _said(stack, user, "Dove si trova", count=2), _chat(stack, user)
    tg_update(stack, user, "via Roma 3")
    assert _said(stack, user, "segnalazione è registrata"), _chat(stack, user)
    assert _said(stack, user, "Ora registriamo l'altro problema"), _chat(stack, user)
    assert _said(stack, user, "Dove si trova", count=3), _chat(stack, user)
    tg_update(stack, user, "piazza Garibaldi 1")
    assert _said(stack, user, "segnalazione è registrata", count=2), _chat(stack, user)
    mattress = [r for r in _reports(stack, "materasso") if "materasso" in (r.get("subject") or "")]
    lamp = [r for r in _reports(stack, "lampione") if "lampeggia" in (r.get("subject") or "")]
    assert len(mattress) == 1 and "Luogo: via Roma 3" in mattress[0]["description"], mattress
    assert len(lamp) == 1 and "Luogo: piazza Garibaldi 1" in lamp[0]["description"], lamp


def test_asking_for_the_social_worker_gets_how_to_reach_one_and_the_operator_offered(
    stack: Stack, needs_rasa, articles
) -> None:  # type: ignore[no-untyped-def]
    """The URP is not the social worker: the article on reaching one, with a button that still hands off."""
    user = 1_150_000 + next(_n)
    tg_update(stack, user, "vorrei parlare con l'assistente sociale del comune")
    offer = _said(stack, user, "Se preferisce parlare con un operatore")
    assert offer and _said(stack, user, "via Garibaldi 4"), _chat(stack, user)
    assert not any("richiamata" in t or "la metto in contatto con un operatore" in t for t in _chat(stack, user)[:-1])
    tg_update(stack, user, callback=_buttons(offer[-1])["Parlare con un operatore"])
    handed = stack.telegram.wait_for(
        lambda r: r["chat_id"] == user and any(k in (r["text"] or "") for k in ("operatore", "richiamata")), count=2
    )
    assert handed, _chat(stack, user)


def test_a_question_inside_the_booking_form_is_answered_and_the_form_resumes(
    stack: Stack, needs_rasa, articles
) -> None:  # type: ignore[no-untyped-def]
    user = 1_130_000 + next(_n)
    tg_update(stack, user, "vorrei prenotare un appuntamento")
    asked = stack.telegram.wait_for(lambda r: r["chat_id"] == user, timeout=60)
    assert asked, _chat(stack, user)
    first_question = asked[-1]["text"]
    tg_update(stack, user, "scusi, ma quanto costa la carta d'identità?")
    assert _said(stack, user, "22,21 euro"), _chat(stack, user)
    assert _said(stack, user, "Riprendiamo da dove eravamo"), _chat(stack, user)
    # the form asks its question again (the same one: nothing was taken as the answer)
    assert _said(stack, user, first_question, count=2), _chat(stack, user)
    assert not any("utile" in t for t in _chat(stack, user))
