"""The citizen always knows who is talking (issue 15, item 5): an operator's messages carry their first name and a
look of their own in the web widget, and the name in words on Telegram and SMS; the notices "… ha preso in carico
la conversazione", "la conversazione è stata chiusa" and "è tornato l'assistente virtuale" reach every channel; at
the close the citizen is asked to rate the conversation (1-5, then one optional comment), stored per conversation
and operator.

A CRM server of its own (its default ente is this module's, so the widget's chats land there) with the fake Twilio
and Telegram servers and no Rasa: every first message gets the holding answer and is handed off, which is the path
to an operator these tests need. Real Chromium for the widget (skips without it, like the other browser tests)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from tests.browser import SCREENS, SIZES, browser, browser_pages, require_axe  # noqa: F401  (browser: the fixture)
from tests.browser import axe as run_axe
from tests.channels.conftest import (
    TG_SECRET,
    TWILIO_FROM,
    TWILIO_SID,
    TWILIO_TOKEN,
    FakeTelegram,
    FakeTwilio,
    fakes_env,
)
from tests.conftest import EnteCtx, Server, free_port, make_ente, start_server

JOINED = "Giulia dell'URP ha preso in carico la conversazione e le risponderà qui."
CLOSED = "La conversazione è stata chiusa."
QUESTION = "Come valuta l'aiuto ricevuto?"
THANKS = "Grazie per la valutazione!"
COMMENT_THANKS = "Grazie, il suo commento è stato registrato."
BACK = "È tornato l'assistente virtuale"
HOLDING = "Il nostro assistente virtuale in questo momento non risponde."
_n = iter(range(10**6))


@dataclass
class Desk:
    crm: Server
    ente: EnteCtx
    twilio: FakeTwilio
    telegram: FakeTelegram

    def api(self, method: str, path: str, who: str = "operator", **kw: Any) -> httpx.Response:
        return httpx.request(method, self.crm.url + "/api/v1" + path, headers=self.ente.headers(who), timeout=60, **kw)


@pytest.fixture(scope="module")
def desk(base_env: dict[str, str], db, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:  # type: ignore[no-untyped-def]
    ente = make_ente(db, slug=f"desk-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    twilio, telegram = FakeTwilio(), FakeTelegram()
    port = free_port()
    env = {
        **base_env,
        "URP_DEFAULT_ENTE": ente.slug,
        "URP_SCHEDULER_ENTES": ente.slug,
        "URP_PUBLIC_URL": f"http://127.0.0.1:{port}",
        **fakes_env(twilio, telegram),
    }
    crm = start_server(env, tmp_path_factory.mktemp("desk") / "crm.log", port=port)
    d = Desk(crm=crm, ente=ente, twilio=twilio, telegram=telegram)
    # the operator has a name: the citizen reads "Giulia", not the username
    assert (
        d.api(
            "PATCH", f"/operators/{ente.operator_ids['operator']}", "admin", json={"full_name": "Giulia Verdi"}
        ).status_code
        == 200
    )
    yield d
    crm.proc.terminate()
    crm.proc.wait(timeout=30)
    twilio.close()
    telegram.close()


def _waiting(desk: Desk, channel: str) -> int:
    """The conversation the assistant (down) just handed to the operators on this channel."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items = desk.api("GET", "/conversations", params={"mode": "waiting"}).json()["items"]
        mine = [c["id"] for c in items if c["channel"] == channel]
        if mine:
            return max(mine)
        time.sleep(0.2)
    pytest.fail(f"no {channel} conversation was handed off")


def _rating(db, conversation_id: int) -> tuple[Any, ...] | None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from crm.conversations.models import ConversationRating

    async def read(s):  # type: ignore[no-untyped-def]
        r = await s.scalar(select(ConversationRating).where(ConversationRating.conversation_id == conversation_id))
        return None if r is None else (r.score, r.comment, r.operator_id, r.state, r.channel)

    return db.run(read)


def _sms(desk: Desk, sender: str, body: str) -> None:
    params = {
        "From": sender,
        "To": TWILIO_FROM,
        "Body": body,
        "MessageSid": f"SMin{uuid.uuid4().hex}",
        "AccountSid": TWILIO_SID,
    }
    url = desk.crm.url + "/channels/twilio/sms"
    sig = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    assert httpx.post(url, data=params, headers={"X-Twilio-Signature": sig}, timeout=60).status_code == 200


def _tg(desk: Desk, user_id: int, text: str) -> None:
    uid = 500_000 + next(_n)
    update = {
        "update_id": uid,
        "message": {
            "message_id": uid,
            "date": 1,
            "text": text,
            "chat": {"id": user_id, "type": "private"},
            "from": {"id": user_id, "is_bot": False, "first_name": "Lucia"},
        },
    }
    r = httpx.post(
        desk.crm.url + "/channels/telegram/webhook",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET},
        timeout=60,
    )
    assert r.status_code == 200


def _sms_to(desk: Desk, number: str, needle: str) -> list[dict[str, Any]]:
    got = desk.twilio.wait_for(lambda r: r.get("To") == number and needle in r.get("Body", ""), timeout=30)
    assert got, (needle, [r.get("Body") for r in desk.twilio.requests if r.get("To") == number])
    return got


def _tg_to(desk: Desk, chat: int, needle: str) -> list[dict[str, Any]]:
    got = desk.telegram.wait_for(lambda r: r.get("chat_id") == chat and needle in (r.get("text") or ""), timeout=30)
    assert got, (needle, [r.get("text") for r in desk.telegram.requests if r.get("chat_id") == chat])
    return got


def test_telegram_says_who_is_talking_in_words(desk: Desk) -> None:
    user = 7_000_000 + next(_n)
    _tg(desk, user, "Vorrei parlare con una persona")
    _tg_to(desk, user, HOLDING)
    conv = _waiting(desk, "telegram")
    assert desk.api("POST", f"/conversations/{conv}/take").status_code == 200
    _tg_to(desk, user, JOINED)
    assert desk.api(
        "POST", f"/conversations/{conv}/messages", json={"text": "Buongiorno, come posso aiutarla?"}
    ).status_code in (200, 201)
    _tg_to(desk, user, "Giulia dell'URP: Buongiorno, come posso aiutarla?")
    assert desk.api("POST", f"/conversations/{conv}/return-to-bot").status_code == 200
    _tg_to(desk, user, BACK)
    # what was sent is what is stored, without the name: the console shows the author apart
    full = desk.api("GET", f"/conversations/{conv}").json()
    said = [(m["author_kind"], m["text"]) for m in full["messages"] if m["direction"] == "out"]
    assert ("operator", "Buongiorno, come posso aiutarla?") in said and ("system", JOINED) in said


def test_sms_close_asks_for_a_rating_and_stores_score_and_comment(desk: Desk, db) -> None:  # type: ignore[no-untyped-def]
    number = f"+39348{next(_n):07d}"
    _sms(desk, number, "Devo parlare con un operatore")
    _sms_to(desk, number, HOLDING)
    conv = _waiting(desk, "sms")
    assert desk.api("POST", f"/conversations/{conv}/take").status_code == 200
    _sms_to(desk, number, JOINED)
    assert desk.api("POST", f"/conversations/{conv}/close").status_code == 200
    _sms_to(desk, number, CLOSED)
    question = _sms_to(desk, number, QUESTION)[0]["Body"]
    assert "1" in question and "5" in question  # SMS has no buttons: the words say how to answer
    assert _rating(db, conv) == (None, "", desk.ente.operator_ids["operator"], "asked", "sms")
    _sms(desk, number, "5")
    _sms_to(desk, number, THANKS)
    assert _rating(db, conv)[:1] == (5,)
    _sms(desk, number, "Risposta chiara e veloce")
    _sms_to(desk, number, COMMENT_THANKS)
    assert _rating(db, conv) == (5, "Risposta chiara e veloce", desk.ente.operator_ids["operator"], "done", "sms")
    # the answers are in the rated conversation; no new conversation was opened for them
    texts = [m["text"] for m in desk.api("GET", f"/conversations/{conv}").json()["messages"]]
    assert "5" in texts and "Risposta chiara e veloce" in texts
    contact_id = desk.api("GET", f"/conversations/{conv}").json()["contact_id"]
    assert not [
        c
        for c in desk.api("GET", "/conversations", params={"mode": "open"}).json()["items"]
        if c["channel"] == "sms" and c["contact_id"] == contact_id
    ]
    # erasure (GDPR) takes the comment, the citizen's words; the score stays for the statistics
    assert desk.api("POST", f"/contacts/{contact_id}/erase", "admin").status_code == 200
    assert _rating(db, conv)[:2] == (5, "")


def _transcripts(db, conversation_id: int) -> list[tuple[str, str | None, int]]:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from crm.notifications.models import Notification

    async def read(s):  # type: ignore[no-untyped-def]
        rows = await s.execute(
            select(Notification.address, Notification.attachment_name, Notification.attachment)
            .where(Notification.dedupe_key.startswith(f"transcript:{conversation_id}:"))
            .order_by(Notification.id)
        )
        return [(a, name, len(body or b"")) for a, name, body in rows.all()]

    return db.run(read)


def test_sms_and_telegram_ask_for_the_transcript_in_words(desk: Desk, db) -> None:  # type: ignore[no-untyped-def]
    """The closing notice says how (TRASCRIZIONE, with the address); the word alone without a known address asks
    for it; with one the e-mail (text and PDF) is queued and the address fills the contact's empty e-mail; a second
    request within ten minutes is refused in words; the satisfaction question stays open throughout."""
    number = f"+39347{next(_n):07d}"
    _sms(desk, number, "Vorrei un operatore")
    conv = _waiting(desk, "sms")
    assert desk.api("POST", f"/conversations/{conv}/take").status_code == 200
    assert desk.api("POST", f"/conversations/{conv}/close").status_code == 200
    closed = _sms_to(desk, number, CLOSED)[0]["Body"]
    assert "risponda TRASCRIZIONE seguito dal suo indirizzo e-mail" in closed
    _sms_to(desk, number, QUESTION)
    _sms(desk, number, "Trascrizione")
    _sms_to(desk, number, "risponda TRASCRIZIONE seguito dal suo indirizzo, per esempio: TRASCRIZIONE nome@esempio.it")
    assert _transcripts(db, conv) == []
    _sms(desk, number, "TRASCRIZIONE lucia.neri@example.it")
    _sms_to(desk, number, "Le abbiamo inviato la trascrizione della conversazione all'indirizzo lucia.neri@example.it.")
    [(address, name, size)] = _transcripts(db, conv)
    assert address == "lucia.neri@example.it" and name == f"trascrizione-conversazione-{conv}.pdf" and size > 500
    contact_id = desk.api("GET", f"/conversations/{conv}").json()["contact_id"]
    assert desk.api("GET", f"/contacts/{contact_id}").json()["emails"] == ["lucia.neri@example.it"]
    _sms(desk, number, "trascrizione")  # to the address now known, but within ten minutes
    _sms_to(desk, number, "Le abbiamo inviato la trascrizione di questa conversazione pochi minuti fa")
    assert len(_transcripts(db, conv)) == 1
    assert _rating(db, conv)[3] == "asked"  # the requests were not taken for an answer
    _sms(desk, number, "4")
    _sms_to(desk, number, THANKS)
    assert _rating(db, conv)[:1] == (4,)
    # the requests and answers are in the closed conversation: no new one was opened
    texts = [m["text"] for m in desk.api("GET", f"/conversations/{conv}").json()["messages"]]
    assert "TRASCRIZIONE lucia.neri@example.it" in texts
    # Telegram: the same words, the address at once
    user = 7_100_000 + next(_n)
    _tg(desk, user, "Mi serve un operatore")
    tconv = _waiting(desk, "telegram")
    assert desk.api("POST", f"/conversations/{tconv}/take").status_code == 200
    assert desk.api("POST", f"/conversations/{tconv}/close").status_code == 200
    assert "risponda TRASCRIZIONE" in _tg_to(desk, user, CLOSED)[0]["text"]
    _tg(desk, user, "trascrizione: lucia@example.it")
    _tg_to(desk, user, "all'indirizzo lucia@example.it.")
    assert [a for a, _, _ in _transcripts(db, tconv)] == ["lucia@example.it"]


def test_a_new_question_instead_of_a_score_starts_a_new_conversation(desk: Desk, db) -> None:  # type: ignore[no-untyped-def]
    number = f"+39349{next(_n):07d}"
    _sms(desk, number, "Un operatore per favore")
    conv = _waiting(desk, "sms")
    assert desk.api("POST", f"/conversations/{conv}/take").status_code == 200
    assert desk.api("POST", f"/conversations/{conv}/close").status_code == 200
    _sms_to(desk, number, QUESTION)
    _sms(desk, number, "Ho un'altra domanda sulla TARI")
    # not a score: the question is dropped and the message opens a new conversation (the assistant, down, hands
    # it off again)
    deadline = time.monotonic() + 30
    while _rating(db, conv)[3] != "skipped" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _rating(db, conv)[:1] == (None,) and _rating(db, conv)[3] == "skipped"
    assert _waiting(desk, "sms") > conv


# --- the widget, in Chromium ------------------------------------------------------------------------------------------
@pytest.fixture
def pages(browser: Any, desk: Desk, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:  # noqa: F811
    with browser_pages(browser, request, tmp_path, base_url=desk.crm.url) as make:
        yield make


def _shots(page: Any, name: str) -> None:
    """The widget at the three sizes (URP_SCREENSHOTS=<dir>, or scripts/screenshots.py's URP_SCREENS, keeps them to be
    looked at)."""
    out = os.environ.get("URP_SCREENSHOTS") or SCREENS
    for size, (w, h) in SIZES.items():
        page.set_viewport_size({"width": w, "height": h})
        page.wait_for_timeout(150)
        if out:
            Path(out).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(out) / f"widget-{name}-{size}.png"))
    page.set_viewport_size({"width": SIZES["desktop"][0], "height": SIZES["desktop"][1]})


def test_widget_shows_the_operator_the_notices_and_takes_the_rating(desk: Desk, pages: Any, db) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = pages(viewport={"width": 1366, "height": 768})
    page.goto("/")
    page.get_by_role("button", name="Scrivi al Comune").click()
    dialog = page.get_by_role("dialog", name="Assistente del Comune")
    log = dialog.get_by_role("log", name="Messaggi")
    who = dialog.locator("#urp-chat-who")
    expect(who).to_have_text("Risponde l'assistente virtuale")
    _shots(page, "open")
    box = dialog.get_by_role("textbox", name="Scrivi un messaggio")
    box.fill("Vorrei parlare con un operatore")
    box.press("Enter")
    expect(log.locator(".urp-msg.system").last).to_contain_text(HOLDING)
    conv = _waiting(desk, "web")

    assert desk.api("POST", f"/conversations/{conv}/take").status_code == 200
    expect(log.locator(".urp-msg.system").last).to_have_text(JOINED)
    expect(who).to_have_text("Le risponde Giulia dell'URP")
    assert desk.api(
        "POST", f"/conversations/{conv}/messages", json={"text": "Buongiorno, sono Giulia: mi dica pure."}
    ).status_code in (200, 201)
    reply = log.locator(".urp-msg.operator").last
    expect(reply.locator(".urp-author")).to_have_text("Giulia dell'URP")
    expect(reply).to_contain_text("Buongiorno, sono Giulia: mi dica pure.")
    # a person looks like a person: not the assistant's bubble, not a notice
    looks = page.evaluate("""() => ['.urp-msg.operator', '.urp-msg.system', '.urp-msg.citizen'].map(s => {
        const c = getComputedStyle(document.querySelector(s)); return [c.backgroundColor, c.textAlign]; })""")
    assert len({tuple(x) for x in looks}) == 3, looks
    _shots(page, "operator")

    assert desk.api("POST", f"/conversations/{conv}/close").status_code == 200
    expect(log.locator(".urp-msg.system", has_text=CLOSED)).to_have_count(1)
    expect(log.locator(".urp-msg.system").last).to_contain_text(QUESTION)
    expect(who).to_have_text("Conversazione chiusa")
    scores = dialog.get_by_role("group", name="Risposte rapide").get_by_role("button")
    expect(scores).to_have_text(["1", "2", "3", "4", "5"])
    _shots(page, "rating")
    require_axe()
    result = run_axe(page)
    serious = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not serious, serious

    dialog.get_by_role("button", name="4", exact=True).click()
    expect(log.locator(".urp-msg.citizen").last).to_have_text("4")
    expect(log.locator(".urp-msg.system").last).to_contain_text(THANKS)
    box.fill("Molto gentile, grazie")
    box.press("Enter")
    expect(log.locator(".urp-msg.system").last).to_have_text(COMMENT_THANKS)
    _shots(page, "rated")
    assert _rating(db, conv) == (4, "Molto gentile, grazie", desk.ente.operator_ids["operator"], "done", "web")
    # the closing notice offers the transcript; the offer stands out; no e-mail known: the widget asks for one
    expect(log.locator(".urp-msg.system", has_text=CLOSED)).to_contain_text("«Ricevi la trascrizione via e-mail»")
    expect(dialog.locator(".urp-chat-tools")).to_have_class("urp-chat-tools offer")
    dialog.get_by_role("button", name="Ricevi la trascrizione via e-mail").click()
    expect(dialog.locator(".urp-chat-tresult")).to_have_text("A quale indirizzo e-mail le inviamo la trascrizione?")
    email = dialog.get_by_label("La sua e-mail")
    expect(email).to_be_focused()
    email.fill("marta.blu@example.it")
    _shots(page, "transcript-ask")
    email.press("Enter")
    expect(dialog.locator(".urp-chat-tresult")).to_have_text(
        "Le abbiamo inviato la trascrizione della conversazione all'indirizzo marta.blu@example.it."
    )
    _shots(page, "transcript-sent")
    result = run_axe(page)
    serious = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not serious, serious
    [(address, name, size)] = _transcripts(db, conv)
    assert address == "marta.blu@example.it" and name and size > 500
    assert not page.errors, page.errors  # type: ignore[attr-defined]


def test_widget_hears_the_assistant_is_back(desk: Desk, pages: Any) -> None:
    from playwright.sync_api import expect

    page = pages(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto("/")
    page.get_by_role("button", name="Scrivi al Comune").click()
    dialog = page.get_by_role("dialog", name="Assistente del Comune")
    log = dialog.get_by_role("log", name="Messaggi")
    box = dialog.get_by_role("textbox", name="Scrivi un messaggio")
    box.fill("Operatore")
    box.press("Enter")
    expect(log.locator(".urp-msg.system").last).to_contain_text(HOLDING)
    conv = _waiting(desk, "web")
    assert desk.api("POST", f"/conversations/{conv}/take").status_code == 200
    expect(dialog.locator("#urp-chat-who")).to_have_text("Le risponde Giulia dell'URP")
    assert desk.api("POST", f"/conversations/{conv}/return-to-bot").status_code == 200
    expect(log.locator(".urp-msg.system").last).to_contain_text(BACK)
    expect(dialog.locator("#urp-chat-who")).to_have_text("Risponde l'assistente virtuale")
    # a reload shows the same thread, notices included, with the same look
    page.reload()
    page.get_by_role("button", name="Scrivi al Comune").click()
    expect(log.locator(".urp-msg.system")).to_have_count(3)  # holding, joined, back
    expect(dialog.locator("#urp-chat-who")).to_have_text("Risponde l'assistente virtuale")
