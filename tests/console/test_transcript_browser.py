"""The transcript in Chromium (tests/browser.py): the operator exports it as PDF from the thread's header; the
citizen asks for it by e-mail from the widget and reads the answer; axe and screenshots at the three sizes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.browser import axe, browser, require_axe  # noqa: F401  (browser: the module fixture)
from tests.conftest import Server
from tests.console.test_sla_browser import desk, pages  # noqa: F401  (fixtures)
from tests.console.test_workspace_browser import SHOTS, SIZES, _handed_off, _login


def test_pdf_export_and_the_widget_s_transcript_request(desk: tuple[Server, Any], pages: Callable[..., Any]) -> None:
    from playwright.sync_api import expect

    require_axe()
    server, ente = desk
    citizen, conv = _handed_off(server, ente, "Vorrei sapere come pagare la TARI")
    page = pages()
    _login(page, ente.usernames["operator"])
    page.goto(f"/console/conversations/{conv}")
    with page.expect_download() as dl:
        page.get_by_role("link", name="Esporta PDF della trascrizione").click()
    assert dl.value.suggested_filename == f"trascrizione-conversazione-{conv}.pdf"
    citizen.close()
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, size in SIZES.items():
        widget = pages(viewport=size, bypass_csp=True)
        widget.goto("/")
        widget.locator(".urp-chat-launcher").click()
        widget.locator("#urp-chat-input").fill("Vorrei parlare con un operatore")
        widget.locator("#urp-chat-input").press("Enter")
        expect(widget.locator(".urp-msg.citizen")).to_have_count(1)
        widget.get_by_role("button", name="Ricevi la trascrizione via e-mail").click()
        widget.get_by_label("La sua e-mail").fill("anna.verdi@example.it")
        widget.screenshot(path=str(SHOTS / f"widget-transcript-form-{name}.png"))
        result = axe(widget)
        assert not result["violations"], (name, "widget form", result["violations"])
        widget.get_by_label("La sua e-mail").press("Enter")
        expect(widget.locator(".urp-chat-tresult")).to_have_text(
            "Le abbiamo inviato la trascrizione della conversazione all'indirizzo anna.verdi@example.it."
        )
        expect(widget.locator("#urp-chat-tform")).to_be_hidden()
        widget.screenshot(path=str(SHOTS / f"widget-transcript-sent-{name}.png"))
        result = axe(widget)
        assert not result["violations"], (name, "widget sent", result["violations"])


def test_a_transcript_asked_for_while_the_widget_connects_is_sent_once_it_is_ready(
    desk: tuple[Server, Any], pages: Callable[..., Any]
) -> None:
    """The citizen writes and asks for the transcript before the socket's history has arrived (a slow connection):
    the request waits, goes after the message it must include, and the widget asks for the e-mail. It used to say
    "Connessione in corso" and leave the form closed (CI caught the race: the form was never shown)."""
    from playwright.sync_api import expect

    held: list[Any] = []
    sockets: list[Any] = []
    through = [False]

    def route(ws: Any) -> None:
        """Server messages are held until the test lets them through (the page's socket stays open)."""
        sockets.append(ws)

        def from_server(message: Any) -> None:
            if through[0]:
                ws.send(message)
            else:
                held.append(message)

        ws.connect_to_server().on_message(from_server)

    widget = pages(viewport=SIZES["desktop"], bypass_csp=True)
    widget.route_web_socket("**/channels/web/ws", route)
    widget.goto("/")
    widget.locator(".urp-chat-launcher").click()
    widget.locator("#urp-chat-input").fill("Vorrei parlare con un operatore")
    widget.locator("#urp-chat-input").press("Enter")
    widget.get_by_role("button", name="Ricevi la trascrizione via e-mail").click()
    expect(widget.locator(".urp-chat-tresult")).to_have_text("Invio in corso…")
    for _ in range(200):  # the history, held by the route
        if held:
            break
        widget.wait_for_timeout(50)
    assert held, "the server's history never arrived"
    through[0] = True
    for message in held:
        sockets[0].send(message)
    expect(widget.get_by_label("La sua e-mail")).to_be_visible()
    expect(widget.locator(".urp-chat-tresult")).to_contain_text("e-mail")
    widget.get_by_label("La sua e-mail").fill("anna.verdi@example.it")
    widget.get_by_label("La sua e-mail").press("Enter")
    expect(widget.locator(".urp-chat-tresult")).to_have_text(
        "Le abbiamo inviato la trascrizione della conversazione all'indirizzo anna.verdi@example.it."
    )
