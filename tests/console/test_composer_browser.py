"""Actions inside the conversation, in Chromium (the workspace's set-up, tests/console/test_workspace_browser.py):
quick replies written by an admin on their console page and inserted by an operator with "/" and a few letters,
from the keyboard alone, into the draft (not sent). axe on every screen and state; screenshots at three sizes."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx

from tests.browser import axe, browser, require_axe  # noqa: F401  (browser: the module fixture)
from tests.conftest import Server
from tests.console.test_workspace_browser import (  # noqa: F401  (desk, pages: fixtures)
    SHOTS,
    SIZES,
    _handed_off,
    _live,
    _login,
    _not_reloaded,
    desk,
    pages,
)


def _no_axe_violations(page: Any, where: str) -> None:
    result = axe(page)
    assert not result["violations"], (where, result["violations"])


def test_admin_writes_quick_replies_in_the_console(desk: tuple[Server, Any], pages: Callable[..., Any]) -> None:
    from playwright.sync_api import expect

    require_axe()
    server, ente = desk
    page = pages(bypass_csp=True)
    _login(page, ente.usernames["admin"])
    page.get_by_role("link", name="Impostazioni", exact=True).click()
    page.get_by_role("link", name="Risposte rapide").click()
    expect(page.get_by_role("heading", name="Risposte rapide")).to_be_visible()
    page.get_by_role("link", name="Nuova risposta rapida").click()

    # nothing filled in: the errors in Italian, next to their fields
    page.get_by_role("button", name="Crea la risposta").click()
    expect(page.get_by_text("La risposta non è stata salvata")).to_be_visible()
    expect(page.locator("#qr-text-err")).to_have_text("Campo obbligatorio.")
    _no_axe_violations(page, "form with errors")

    page.get_by_label("Scorciatoia").fill("orari")
    page.get_by_label("Titolo").fill("Orari dell'URP")
    page.get_by_label("Testo inserito nella risposta").fill("L'URP è aperto dal lunedì al venerdì, 8:30-12:30.")
    page.get_by_label("Ambito").select_option(label="anagrafe")
    page.get_by_role("button", name="Crea la risposta").click()
    expect(page.get_by_role("status")).to_contain_text("Risposta rapida creata")
    row = page.get_by_role("row", name="/orari")
    expect(row).to_contain_text("Orari dell'URP")
    expect(row).to_contain_text("anagrafe")

    # a second one with the same shortcut is refused, saying why
    page.get_by_role("link", name="Nuova risposta rapida").click()
    page.get_by_label("Scorciatoia").fill("orari")
    page.get_by_label("Titolo").fill("Doppione")
    page.get_by_label("Testo inserito nella risposta").fill("x")
    page.get_by_role("button", name="Crea la risposta").click()
    expect(page.locator("#qr-shortcut-err")).to_contain_text("già usata")

    # edit: for every topic now; then delete
    page.goto("/console/replies")
    page.get_by_role("link", name="/orari").click()
    page.get_by_label("Ambito").select_option(label="Tutti gli ambiti")
    page.get_by_label("Titolo").fill("Orari di apertura")
    page.get_by_role("button", name="Salva").click()
    expect(page.get_by_role("status")).to_contain_text("Modifiche salvate")
    expect(page.get_by_role("row", name="/orari")).to_contain_text("Tutti gli ambiti")

    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, size in SIZES.items():
        page.set_viewport_size(size)
        page.goto("/console/replies")
        page.screenshot(path=str(SHOTS / f"replies-list-{name}.png"), full_page=True)
        _no_axe_violations(page, f"list {name}")
        page.get_by_role("link", name="/orari").click()
        page.screenshot(path=str(SHOTS / f"replies-edit-{name}.png"), full_page=True)
        _no_axe_violations(page, f"edit {name}")

    page.set_viewport_size(SIZES["desktop"])
    page.get_by_role("button", name="Elimina la risposta rapida").click()
    expect(page.get_by_role("status")).to_contain_text("Risposta rapida eliminata")
    expect(page.get_by_role("row", name="/orari")).to_have_count(0)

    # operators do not see the page
    other = pages()
    _login(other, ente.usernames["operator"])
    assert other.goto("/console/replies").status == 403  # type: ignore[union-attr]


def test_slash_inserts_a_quick_reply_into_the_draft(desk: tuple[Server, Any], pages: Callable[..., Any]) -> None:
    from playwright.sync_api import expect

    require_axe()
    server, ente = desk
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for shortcut, title, text, topic in (
            ("saluto", "Saluto", "Buongiorno, sono un operatore dell'URP: come posso aiutarla?", None),
            ("sanzioni", "Sanzioni e multe", "Per le multe risponde la Polizia locale.", None),
            ("cie", "Carta d'identità", "La carta d'identità si richiede su appuntamento.", ente.topics["anagrafe"]),
        ):
            r = c.post(
                "/api/v1/quick-replies",
                json={"shortcut": shortcut, "title": title, "text": text, "topic_id": topic},
                headers=ente.headers("admin"),
            )
            assert r.status_code in (201, 409), r.text
    citizen, conv = _handed_off(server, ente, "Buongiorno, una domanda sulle multe")
    page = pages(bypass_csp=True)
    _login(page, ente.usernames["operator"])
    page.goto(f"/console/conversations/{conv}")
    _live(page)
    page.evaluate("window.__notReloaded = true")
    page.get_by_role("button", name="Prendi in carico").click()
    reply = page.get_by_role("textbox", name="Risposta al cittadino")
    expect(reply).to_be_enabled()
    thread = page.get_by_role("list", name="Messaggi")

    listbox = page.get_by_role("listbox", name="Risposte rapide")
    reply.click()
    page.keyboard.type("/sa")
    expect(listbox).to_be_visible()
    options = listbox.get_by_role("option")
    expect(options).to_have_count(2)  # saluto, sanzioni; the anagrafe one is not for this conversation's topic
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    expect(reply).to_have_attribute("aria-activedescendant", "ws-suggest-0")
    page.keyboard.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(reply).to_have_attribute("aria-activedescendant", "ws-suggest-1")
    SHOTS.mkdir(parents=True, exist_ok=True)
    _no_axe_violations(page, "suggestions open")
    for name, size in SIZES.items():
        page.set_viewport_size(size)
        page.wait_for_timeout(200)
        listbox.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"composer-quick-{name}.png"))
    page.set_viewport_size(SIZES["desktop"])
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")  # wraps to the last
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    # Enter inserts (does not send): the reply is in the draft, the list closed
    page.keyboard.press("Enter")
    expect(listbox).to_be_hidden()
    expect(reply).to_have_value("Per le multe risponde la Polizia locale.")
    assert page.evaluate(f"localStorage.getItem('urp.draft.reply.{conv}')") == (
        "Per le multe risponde la Polizia locale."
    )

    # in the middle of a text, after a space; Tab inserts; the title's words find it too
    page.keyboard.type(" /buongiorno")
    expect(listbox).to_be_hidden()  # nothing matches: nothing is offered
    for _ in range(len("buongiorno")):
        page.keyboard.press("Backspace")
    page.keyboard.type("salu")
    expect(listbox.get_by_role("option")).to_have_count(1)
    page.keyboard.press("Tab")
    expect(reply).to_have_value(
        "Per le multe risponde la Polizia locale. Buongiorno, sono un operatore dell'URP: come posso aiutarla?"
    )
    expect(reply).to_be_focused()

    # Esc closes the list and leaves the text as typed
    page.keyboard.type(" /")
    expect(listbox.get_by_role("option")).to_have_count(2)
    page.keyboard.press("Escape")
    expect(listbox).to_be_hidden()
    expect(reply).to_have_value(
        "Per le multe risponde la Polizia locale. Buongiorno, sono un operatore dell'URP: come posso aiutarla? /"
    )
    page.keyboard.press("Backspace")
    page.keyboard.press("Backspace")

    # nothing was sent meanwhile; Enter now sends the draft as it reads
    expect(thread).not_to_contain_text("Polizia locale")
    page.keyboard.press("Enter")
    expect(thread.get_by_role("listitem").last).to_contain_text("Per le multe risponde la Polizia locale.")
    got = citizen.wait(lambda e: e.get("type") == "message" and "Polizia locale" in (e.get("text") or ""))
    assert got["text"].endswith("come posso aiutarla?")

    # the list under "Risposte rapide" inserts at the cursor too
    page.get_by_text("Risposte rapide", exact=True).click()
    page.get_by_role("button", name="/saluto Saluto").click()
    expect(reply).to_have_value("Buongiorno, sono un operatore dell'URP: come posso aiutarla?")
    _not_reloaded(page)
    assert not [e for e in page.errors if "Failed to load resource" not in e], page.errors
    citizen.close()


CIE = (
    "La carta d'identità elettronica si richiede all'Ufficio Anagrafe su appuntamento.\n\n"
    "Servono una fototessera recente, il codice fiscale e la vecchia carta. Il costo è di 22,21 euro.\n\n"
    "Per i minorenni serve la presenza di entrambi i genitori."
)


def test_a_knowledge_base_article_goes_into_the_draft(desk: tuple[Server, Any], pages: Callable[..., Any]) -> None:
    """ "/kb" and words in the composer, or the search box under it: the article's title, the paragraph that answers
    and its link are inserted into the draft (not sent)."""
    from playwright.sync_api import expect

    require_axe()
    server, ente = desk
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for slug, title, body, url in (
            ("carta-identita", "Carta d'identità elettronica", CIE, "https://www.comune.example.it/servizi/cie"),
            ("tari", "TARI: la tassa sui rifiuti", "La TARI si paga in due rate, a maggio e a novembre.", ""),
        ):
            r = c.post(
                "/api/v1/kb/articles",
                json={"slug": slug, "title": title, "body": body, "url": url, "status": "published"},
                headers=ente.headers("admin"),
            )
            assert r.status_code in (201, 409), r.text
        # the ente's index is built by its first search (seconds on a busy machine): not inside the page's wait
        warm = c.get("/api/v1/kb/search", params={"q": "carta d'identità"}, headers=ente.headers("operator"))
        assert warm.status_code == 200, warm.text
    citizen, conv = _handed_off(server, ente, "Come faccio la carta d'identità?")
    page = pages(bypass_csp=True)
    _login(page, ente.usernames["operator"])
    page.goto(f"/console/conversations/{conv}")
    _live(page)
    page.evaluate("window.__notReloaded = true")
    page.get_by_role("button", name="Prendi in carico").click()
    reply = page.get_by_role("textbox", name="Risposta al cittadino")
    expect(reply).to_be_enabled()

    reply.click()
    page.keyboard.type("Buongiorno. /kb carta d'identità fototessera")
    listbox = page.get_by_role("listbox", name="Risposte rapide")
    option = listbox.get_by_role("option").first
    expect(option).to_contain_text("Carta d'identità elettronica")
    _no_axe_violations(page, "articles offered")
    page.keyboard.press("Enter")
    expect(listbox).to_be_hidden()
    value = reply.input_value()
    assert value.startswith("Buongiorno. Carta d'identità elettronica\n"), value
    assert "fototessera" in value and "/kb" not in value
    assert value.endswith("\nMaggiori informazioni: https://www.comune.example.it/servizi/cie"), value
    expect(page.get_by_role("list", name="Messaggi")).not_to_contain_text("Maggiori informazioni")  # not sent

    # the search box under the reply: results with a button each; the article goes in at the cursor
    reply.fill("")
    page.get_by_text("Scheda informativa", exact=True).click()
    page.get_by_label("Cerca nelle schede informative").fill("tassa rifiuti")
    page.get_by_role("button", name="Cerca", exact=True).click()
    results = page.get_by_role("list", name="Schede trovate")
    expect(results).to_contain_text("TARI: la tassa sui rifiuti")
    SHOTS.mkdir(parents=True, exist_ok=True)
    _no_axe_violations(page, "search box results")
    for name, size in SIZES.items():
        page.set_viewport_size(size)
        page.wait_for_timeout(200)
        results.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"composer-kb-{name}.png"))
    page.set_viewport_size(SIZES["desktop"])
    page.get_by_role("button", name="Inserisci nella risposta: TARI: la tassa sui rifiuti").click()
    expect(reply).to_have_value("TARI: la tassa sui rifiuti\nLa TARI si paga in due rate, a maggio e a novembre.")
    _not_reloaded(page)
    assert not [e for e in page.errors if "Failed to load resource" not in e], page.errors
    citizen.close()


def test_new_request_booking_and_istanza_from_the_thread(desk: tuple[Server, Any], pages: Callable[..., Any]) -> None:
    """The phone intake's forms in a side panel of the conversation: a request (not sent without its subject), a
    booking and an istanza for this contact, on the conversation's channel; each new record appears in the context
    panel as a link; the page never reloads."""
    from playwright.sync_api import expect

    from tests.console.test_console_screens import GENERIC, _service

    require_axe()
    server, ente = desk
    with httpx.Client(base_url=server.url, timeout=30) as c:
        svc = _service(c, ente)
        r = c.post("/api/v1/instance-types", json=GENERIC, headers=ente.headers("admin"))
        assert r.status_code in (201, 409), r.text
    citizen, conv = _handed_off(server, ente, "Vorrei rinnovare la carta d'identità")
    page = pages(bypass_csp=True)
    _login(page, ente.usernames["operator"])
    page.goto(f"/console/conversations/{conv}")
    _live(page)
    page.evaluate("window.__notReloaded = true")
    reply = page.get_by_role("textbox", name="Risposta al cittadino")
    page.get_by_role("button", name="Prendi in carico").click()
    expect(reply).to_be_enabled()
    reply.fill("Un momento, registro la richiesta")
    context = page.locator(".ws-context")

    # a request: the form's error in the panel, then the confirmation; the context panel has it as a link
    page.get_by_role("link", name="Nuova richiesta").click()
    panel = page.get_by_role("dialog")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("heading", name="Registra una richiesta")).to_be_visible()
    _no_axe_violations(page, "panel: request form")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, size in SIZES.items():
        page.set_viewport_size(size)
        page.wait_for_timeout(200)
        page.screenshot(path=str(SHOTS / f"panel-request-{name}.png"))
    page.set_viewport_size(SIZES["desktop"])
    panel.get_by_role("button", name="Registra la richiesta").click()  # the subject is required: not sent
    assert panel.get_by_label("Oggetto").evaluate("el => el.validity.valueMissing")
    expect(panel.get_by_role("heading", name="Registra una richiesta")).to_be_visible()
    panel.get_by_label("Oggetto").fill("Rinnovo della carta d'identità")
    panel.get_by_role("button", name="Registra la richiesta").click()
    expect(panel.get_by_role("heading", name="Richiesta registrata")).to_be_visible()
    expect(panel).to_contain_text("canale web chat")
    code = panel.locator("strong.code").inner_text()
    expect(context.get_by_role("link", name=code)).to_have_attribute("href", re.compile(r"^/console/requests/\d+$"))
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(page.get_by_role("link", name="Nuova richiesta")).to_be_focused()

    # a booking: service, free times, a time, confirmed
    page.get_by_role("link", name="Prenota", exact=True).click()
    expect(panel).to_be_visible()
    panel.get_by_label("Servizio").select_option(str(svc["id"]))
    panel.get_by_role("button", name="Mostra gli orari liberi").click()
    panel.locator(".slot label").first.click()
    expect(panel.locator("input[name=slot]").first).to_be_checked()
    _no_axe_violations(page, "panel: free times")
    panel.get_by_role("button", name="Prenota per conto del cittadino").click()
    expect(panel.get_by_role("heading", name="Appuntamento prenotato")).to_be_visible()
    code = panel.locator("strong.code").inner_text()
    expect(context.get_by_role("link", name=code)).to_be_visible()
    page.get_by_role("button", name="Chiudi il pannello").click()

    # an istanza
    page.get_by_role("link", name="Apri istanza").click()
    panel.get_by_label("Tipo di istanza").select_option(label="Istanza generica")
    panel.get_by_role("button", name="Compila l'istanza").click()
    panel.get_by_label("Oggetto").fill("Richiesta di accesso agli atti")
    panel.get_by_label("Descrizione").fill("Copia della delibera 12/2026")
    _no_axe_violations(page, "panel: istanza form")
    panel.get_by_role("button", name="Presenta l'istanza per conto del cittadino").click()
    expect(panel.get_by_role("heading", name="Istanza presentata")).to_be_visible()
    code = panel.locator("strong.code").inner_text()
    expect(context.get_by_role("link", name=code)).to_have_attribute("href", re.compile(r"^/console/instances/\d+$"))
    _no_axe_violations(page, "panel: confirmation")
    for name, size in SIZES.items():
        page.set_viewport_size(size)
        page.wait_for_timeout(200)
        page.screenshot(path=str(SHOTS / f"panel-done-{name}.png"))
    page.set_viewport_size(SIZES["desktop"])
    page.get_by_role("button", name="Chiudi il pannello").click()

    # the thread is where it was: the draft stays, nothing reloaded
    expect(reply).to_have_value("Un momento, registro la richiesta")
    _not_reloaded(page)
    assert not [e for e in page.errors if "Failed to load resource" not in e and "422" not in e], page.errors
    citizen.close()
