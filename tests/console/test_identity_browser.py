"""Identity in the workspace, in Chromium (tests/browser.py; the server and helpers of test_workspace_browser): the
name the citizen gave the assistant reaches the open workspace without a reload, a conflict is resolved and the
contact edited in place in the context panel (Italian errors, the focus on the wrong field); axe and the screenshots
at three sizes."""

from __future__ import annotations

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
    _mark,
    _not_reloaded,
    desk,
    pages,
)


def _contact_of(server: Server, ente: Any, conv: int) -> int:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        return int(c.get(f"/api/v1/conversations/{conv}", headers=ente.headers("operator")).json()["contact_id"])


def _capture(server: Server, ente: Any, contact_id: int, **fields: str) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post(f"/api/v1/contacts/{contact_id}/captured", headers=ente.headers("service"), json=fields)
        assert r.status_code == 200, r.text


def test_the_name_arrives_a_conflict_is_resolved_and_the_contact_edited_in_place(
    desk: tuple[Server, Any], pages: Callable[..., Any]
) -> None:
    from playwright.sync_api import expect

    server, ente = desk
    citizen, conv = _handed_off(server, ente, "Vorrei parlare con un operatore per la TARI")
    cid = _contact_of(server, ente, conv)
    page = pages()
    _login(page, ente.usernames["operator"])
    page.goto(f"/console/conversations/{conv}")
    _live(page)
    _mark(page)
    heading = page.locator("#ws-title")
    expect(heading).to_contain_text(f"Contatto #{cid}")

    # the assistant learns the name: list, header and context panel show it, no reload
    _capture(server, ente, cid, first_name="Sara", last_name="Gialli", phone="+39 347 5550001")
    expect(heading).to_contain_text("Sara Gialli")
    expect(page.locator(f'.ws-item[data-id="{conv}"] .ws-name')).to_have_text("Sara Gialli")
    panel = page.locator("#ws-contact")
    expect(panel).to_contain_text("+393475550001")
    _not_reloaded(page)

    # later the citizen gives another number: a conflict in the panel; "Usa questo" makes it the first
    _capture(server, ente, cid, phone="+39 347 5550002")
    conflict = panel.locator(".contact-conflicts")
    expect(conflict).to_contain_text("registrato «+393475550001», indicato «+393475550002»")
    conflict.get_by_role("button", name="Usa questo").click()
    expect(panel.get_by_role("status")).to_have_text("Il dato indicato dal cittadino è ora quello del contatto.")
    expect(panel.locator(".contact-conflicts")).to_have_count(0)
    expect(panel.locator(".ws-facts dd").first).to_have_text("+393475550002")
    _not_reloaded(page)

    # edited in place: a wrong codice fiscale is refused in Italian, the focus on it; then saved
    panel.get_by_text("Modifica i dati qui").click()
    panel.get_by_label("Cognome").fill("Gialli Neri")
    panel.get_by_label("Codice fiscale").fill("RSSMRA85T10A562X")
    panel.get_by_role("button", name="Salva").click()
    cf = panel.get_by_label("Codice fiscale")
    expect(panel.get_by_text("Codice fiscale non valido")).to_be_visible()
    expect(cf).to_be_focused()
    expect(cf).to_have_attribute("aria-invalid", "true")
    cf.fill("rssmra85t10a562s")
    cf.press("Enter")
    expect(panel.get_by_role("status")).to_have_text("Dati del contatto salvati.")
    expect(panel).to_contain_text("RSSMRA85T10A562S")
    expect(heading).to_contain_text("Sara Gialli Neri")
    _not_reloaded(page)
    # the refused form's 422 is the answer the panel expected, not a fault
    faults = [e for e in page.errors if "Failed to load resource" not in e and not e.startswith("HTTP 422 fetch")]
    assert not faults, page.errors
    citizen.close()


def test_context_panel_axe_and_sizes(desk: tuple[Server, Any], pages: Callable[..., Any]) -> None:
    """The panel with a conflict and the edit form open, at the three sizes; axe on it."""
    from playwright.sync_api import expect

    require_axe()
    server, ente = desk
    citizen, conv = _handed_off(server, ente, "Buongiorno, una domanda sull'anagrafe")
    cid = _contact_of(server, ente, conv)
    _capture(server, ente, cid, first_name="Giulio", last_name="Marroni", email="giulio@example.it")
    _capture(server, ente, cid, first_name="Giuliano", email="g.marroni@example.it")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, size in SIZES.items():
        page = pages(viewport=size, bypass_csp=True)
        _login(page, ente.usernames["operator"])
        page.goto(f"/console/conversations/{conv}")
        _live(page)
        panel = page.locator("#ws-contact")
        expect(panel.locator(".contact-conflicts li")).to_have_count(2)
        panel.get_by_text("Modifica i dati qui").click()
        panel.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"identity-panel-{name}.png"), full_page=True)
        result = axe(page)
        assert not result["violations"], (name, result["violations"])
    citizen.close()


def test_unread_badge_rises_live_and_clears_when_opened(desk: tuple[Server, Any], pages: Callable[..., Any]) -> None:
    from playwright.sync_api import expect

    server, ente = desk
    citizen, conv = _handed_off(server, ente, "Una domanda sui tributi")
    page = pages()
    _login(page, ente.usernames["operator2"])
    page.goto("/console/inbox?view=all")
    _live(page)
    _mark(page)
    badge = page.locator(f'.ws-item[data-id="{conv}"] .ws-unread')
    expect(badge).to_contain_text("1")
    citizen.say("E un'altra sui rifiuti")
    expect(badge).to_contain_text("2")
    expect(badge).to_contain_text("messaggi non letti")
    _not_reloaded(page)
    page.locator(f'.ws-item[data-id="{conv}"] a').click()
    expect(page.locator("#ws-title")).to_be_visible()
    expect(page.locator(f'.ws-item[data-id="{conv}"] .ws-unread')).to_have_count(0)
    page.goto("/console/inbox?view=all")
    expect(page.locator(f'.ws-item[data-id="{conv}"] .ws-unread')).to_have_count(0)
    citizen.close()


def test_the_widget_shows_the_operator_is_writing(desk: tuple[Server, Any], pages: Callable[..., Any]) -> None:
    """The real widget on the demo page; the operator types in the workspace's composer (nothing sent)."""
    from playwright.sync_api import expect

    from tests.console.test_workspace_browser import citizen_asks_for_a_person

    server, ente = desk
    widget, box, conv = citizen_asks_for_a_person(desk, pages)

    page = pages()
    _login(page, ente.usernames["operator"])
    page.goto(f"/console/conversations/{conv}")
    _live(page)
    page.get_by_role("button", name="Prendi in carico").click()
    reply = page.get_by_role("textbox", name="Risposta al cittadino")
    expect(reply).to_be_enabled()
    hint = widget.get_by_text("L'operatore sta scrivendo…")
    expect(hint).to_have_count(0)
    reply.press_sequentially("Buongiorno, controllo subito", delay=30)
    expect(hint).to_be_visible()
    widget.screenshot(path=str(SHOTS / "identity-widget-operator-typing-phone.png"))
    expect(hint).to_have_count(0, timeout=10_000)  # the operator stopped: the hint goes
    # nothing of the draft reached the citizen
    expect(widget.locator(".urp-chat-log, [role=log]").first).not_to_contain_text("controllo subito")
