"""The embeddable chat widget in a real browser: Debian's headless Chromium, driven by Playwright (executable_path:
Playwright never downloads a browser), against the whole stack (the CRM serving the demo page and the widget, the real
Rasa server and action server). A phone-sized viewport, keyboard only where a citizen would use it.

Without /usr/bin/chromium (scripts/setup_browser.sh installs it) or the playwright package these tests skip, unless
CI=true or URP_REQUIRE_RASA=1 make that a failure. On a failure the page's screenshot and HTML land in the test's
tmp_path (the path is printed)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import axe as run_axe
from tests.browser import browser, browser_pages, require_axe  # noqa: F401  (browser: the session fixture)
from tests.channels.conftest import Stack
from tests.conftest import free_port

PHONE = {"width": 390, "height": 844}
REPLY_TIMEOUT = 90_000  # ms: the real Rasa on a loaded two-core machine

WELCOME = "Buongiorno! Sono l'assistente virtuale del Comune."
GREET = "Posso darle informazioni sui servizi"  # utter_greet, with three quick replies
ASK_DESCRIPTION = "Mi descriva il problema"  # report_form's first question
ASK_PLACE = "Dove si trova esattamente"  # and its second
TYPING = "L'assistente sta scrivendo…"


@pytest.fixture
def page(browser: Any, stack: Stack, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh phone-sized, Italian browser context (empty localStorage: a new chat session) on the demo page."""
    with browser_pages(
        browser,
        request,
        tmp_path,
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        base_url=stack.crm.url,
    ) as make:
        yield make()


def _widget(page: Any) -> dict[str, Any]:
    """The widget's parts, found the way assistive technology finds them: by role and accessible name."""
    dialog = page.get_by_role("dialog", name="Assistente del Comune")
    return {
        "launcher": page.get_by_role("button", name="Scrivi al Comune"),
        "dialog": dialog,
        "input": dialog.get_by_role("textbox", name="Scrivi un messaggio"),
        "send": dialog.get_by_role("button", name="Invia", exact=True),
        "close": dialog.get_by_role("button", name="Chiudi la chat"),
        "log": dialog.get_by_role("log", name="Messaggi"),
        "status": dialog.get_by_role("status"),
        "typing": dialog.locator(".urp-typing"),
    }


def _is_focused(page: Any, selector: str) -> bool:
    return bool(page.evaluate("s => document.activeElement === document.querySelector(s)", selector))


def _open_with_keyboard(page: Any, key: str = "Enter") -> dict[str, Any]:
    """Tab to the launcher (from the top of the page: past the skip link), then press it (Enter or Space)."""
    from playwright.sync_api import expect

    w = _widget(page)
    expect(w["launcher"]).to_be_visible()
    for _ in range(10):
        if _is_focused(page, ".urp-chat-launcher"):
            break
        page.keyboard.press("Tab")
    else:
        pytest.fail("the chat launcher cannot be reached with Tab")
    page.keyboard.press(key)
    expect(w["dialog"]).to_be_visible()
    expect(w["input"]).to_be_focused()
    return w


def _messages(w: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (("citizen" if "citizen" in (m.get_attribute("class") or "") else "comune"), m.inner_text())
        for m in w["log"].locator(".urp-msg").all()
    ]


def _watch_typing(page: Any) -> None:
    """Record every text the typing indicator shows (it may come and go between two polls)."""
    page.evaluate("""() => {
        const t = document.querySelector('.urp-typing');
        window.__typingSeen = [];
        new MutationObserver(() => window.__typingSeen.push(t.textContent))
            .observe(t, {childList: true, characterData: true, subtree: true});
    }""")


def _send(page: Any, w: dict[str, Any], text: str, how: str = "Enter") -> None:
    from playwright.sync_api import expect

    w["input"].press_sequentially(text)
    if how == "Enter":
        w["input"].press("Enter")
    else:
        w["send"].click()
    expect(w["input"]).to_have_value("")
    expect(w["log"].locator(".urp-msg.citizen").last).to_have_text(text)


def test_widget_opens_with_the_keyboard_and_is_labelled(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    w = _widget(page)
    expect(w["launcher"]).to_have_attribute("aria-expanded", "false")
    expect(w["dialog"]).to_be_hidden()
    w = _open_with_keyboard(page, "Enter")
    # on a phone the open panel fills the screen: the launcher steps aside (it would cover the send button)
    expect(page.locator(".urp-chat-launcher")).to_have_attribute("aria-expanded", "true")
    expect(page.locator(".urp-chat-launcher")).to_be_hidden()
    expect(w["log"]).to_have_attribute("aria-live", "polite")
    expect(w["typing"]).to_have_attribute("aria-live", "polite")
    expect(w["input"]).to_have_attribute("maxlength", "2000")
    # a new session: the history is empty and the widget greets on its own
    expect(w["log"].locator(".urp-msg.comune")).to_have_count(1)
    expect(w["log"].locator(".urp-msg.comune")).to_contain_text(WELCOME)
    session = page.evaluate("localStorage.getItem('urp-chat-session')")
    assert session and re.fullmatch(r"[A-Za-z0-9-]{16,64}", session)

    # on a phone the panel fills the screen and nothing covers the text box or the send button
    box = w["dialog"].bounding_box()
    assert box["x"] >= 0 and box["y"] >= 0
    assert box["x"] + box["width"] <= PHONE["width"] + 0.5 and box["y"] + box["height"] <= PHONE["height"] + 0.5
    for part in ("input", "send", "close"):
        covered_by = w[part].evaluate("""el => {
            const r = el.getBoundingClientRect();
            const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
            return hit === el || el.contains(hit) ? null : (hit ? hit.outerHTML.slice(0, 200) : "nothing");
        }""")
        assert covered_by is None, f"the {part} is covered by {covered_by}"

    # Esc closes and gives the focus back to the launcher; Space opens again; the close button closes
    page.keyboard.press("Escape")
    expect(w["dialog"]).to_be_hidden()
    expect(w["launcher"]).to_be_focused()
    expect(w["launcher"]).to_have_attribute("aria-expanded", "false")
    w = _open_with_keyboard(page, "Space")
    w["close"].focus()
    page.keyboard.press("Enter")
    expect(w["dialog"]).to_be_hidden()
    expect(w["launcher"]).to_be_focused()
    assert not page.errors, page.errors  # type: ignore[attr-defined]


def test_widget_has_no_serious_accessibility_violations(page: Any) -> None:
    """axe-core (vendored from npm by `make setup`) on the demo page with the chat open."""
    require_axe()
    page.goto("/")
    _open_with_keyboard(page)
    from playwright.sync_api import expect

    expect(_widget(page)["log"].locator(".urp-msg")).to_have_count(1)
    result = run_axe(page)
    assert {"label", "button-name", "aria-dialog-name", "color-contrast"} <= set(result["passed"]), result["passed"]
    violations = result["violations"]
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    print(
        "axe, minor and moderate:",
        [(v["id"], v["impact"], [n["target"] for n in v["nodes"]]) for v in violations if v not in serious],
    )
    assert not serious, json.dumps(serious, indent=1, ensure_ascii=False)


def test_widget_conversation_quick_reply_and_history(page: Any, needs_rasa: None) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    w = _open_with_keyboard(page)
    expect(w["log"].locator(".urp-msg.comune")).to_contain_text(WELCOME)
    session = page.evaluate("localStorage.getItem('urp-chat-session')")

    # a greeting, typed and sent with the send button; the typing indicator shows until the reply
    _watch_typing(page)
    _send(page, w, "buongiorno", how="click")
    expect(w["log"].locator(".urp-msg.comune").last).to_contain_text(GREET, timeout=REPLY_TIMEOUT)
    assert TYPING in page.evaluate("window.__typingSeen"), page.evaluate("window.__typingSeen")
    expect(w["typing"]).to_have_text("")

    # the greeting offers quick replies: one tap starts a report, and the focus goes back to the text box
    quick = w["log"].get_by_role("group", name="Risposte rapide")
    expect(quick.get_by_role("button")).to_have_text(
        ["Informazioni su un servizio", "Fare una segnalazione", "Parlare con un operatore"]
    )
    quick.get_by_role("button", name="Fare una segnalazione").click()
    expect(quick).to_have_count(0)
    expect(w["input"]).to_be_focused()
    expect(w["log"].locator(".urp-msg.citizen").last).to_have_text("Fare una segnalazione")
    expect(w["log"].locator(".urp-msg.comune").last).to_contain_text(ASK_DESCRIPTION, timeout=REPLY_TIMEOUT)

    # reload: same session, the conversation comes back from the server (and the answered quick replies do not)
    page.reload()
    assert page.evaluate("localStorage.getItem('urp-chat-session')") == session
    w = _open_with_keyboard(page, "Space")
    expect(w["log"].locator(".urp-msg")).to_have_count(4)
    got = _messages(w)
    assert [a for a, _ in got] == ["citizen", "comune", "citizen", "comune"], got
    assert got[0][1] == "buongiorno" and GREET in got[1][1], got
    assert got[2][1] == "Fare una segnalazione" and ASK_DESCRIPTION in got[3][1], got
    expect(w["log"].get_by_role("group", name="Risposte rapide")).to_have_count(0)

    # and it goes on where it was: the report form asks for the place next
    _send(page, w, "lampione spento")
    expect(w["log"].locator(".urp-msg.comune").last).to_contain_text(ASK_PLACE, timeout=REPLY_TIMEOUT)
    assert not page.errors, page.errors  # type: ignore[attr-defined]


def test_widget_reconnects_and_sends_what_was_written_offline(page: Any, needs_rasa: None) -> None:
    """The socket drops; what the citizen writes meanwhile stays on screen and goes out on reconnection."""
    from playwright.sync_api import expect

    # count the widget's sockets; while __hold is set, new ones go to a port where nobody listens
    dead = f"ws://127.0.0.1:{free_port()}/"
    page.context.add_init_script(
        """(() => {
        const Native = window.WebSocket;
        window.__sockets = []; window.__hold = false;
        function Tracked(url, protocols) {
            const ws = new Native(window.__hold ? %s : url, protocols);
            window.__sockets.push(ws);
            return ws;
        }
        Tracked.prototype = Native.prototype;
        ["CONNECTING", "OPEN", "CLOSING", "CLOSED"].forEach(k => { Tracked[k] = Native[k]; });
        window.WebSocket = Tracked;
    })();"""
        % json.dumps(dead)
    )
    page.goto("/")
    w = _open_with_keyboard(page)
    expect(w["log"].locator(".urp-msg.comune")).to_contain_text(WELCOME)

    page.evaluate("() => { window.__hold = true; window.__sockets[window.__sockets.length - 1].close(); }")
    expect(w["status"]).to_have_text("Connessione persa, riprovo…")
    _send(page, w, "sei un bot?")
    page.evaluate("() => { window.__hold = false; }")
    expect(w["status"]).to_have_text("", timeout=45_000)  # the backoff may have grown to a few seconds
    # the bot's answer right after the citizen's message (the welcome above says "assistente virtuale" too)
    expect(w["log"].locator(".urp-msg.citizen + .urp-msg.comune")).to_contain_text(
        "assistente virtuale", timeout=REPLY_TIMEOUT
    )
    got = _messages(w)
    assert [t for a, t in got if a == "citizen"] == ["sei un bot?"], got
    assert got[-2] == ("citizen", "sei un bot?"), got
    assert page.evaluate("window.__sockets.length") >= 2
    assert not [e for e in page.errors if "pageerror" in e], page.errors  # type: ignore[attr-defined]


def test_widget_shows_the_comunes_markdown_as_safe_html(page: Any, stack: Stack) -> None:
    """An operator's reply in Markdown (an article's lists, bold, links) shows formatted: a list, bold, links that
    open in a new tab; a script or a handler typed into it never reaches the page. WIDGET_SCREENSHOTS=<dir> keeps the
    widget at 1366x768, 768x1024 and 390x844."""
    from playwright.sync_api import expect

    from tests.channels.test_render_channels import REPLY, _operator_replies

    page.goto("/")
    w = _open_with_keyboard(page)
    expect(w["log"].locator(".urp-msg.comune")).to_contain_text(WELCOME)
    session = page.evaluate("localStorage.getItem('urp-chat-session')")
    _send(page, w, "vorrei parlare con un operatore")
    hostile = REPLY + '\n\n<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"> Buona giornata!'
    _operator_replies(stack, "web", session, hostile)
    rich = w["log"].locator(".urp-msg.comune.rich").last
    expect(rich).to_contain_text("Buona giornata!", timeout=REPLY_TIMEOUT)
    expect(rich.locator("strong")).to_have_text("Carta d'identità elettronica")
    expect(rich.locator("ul > li")).to_have_text(["una fototessera recente", "il documento scaduto"])
    link = rich.get_by_role("link", name="https://comune.example.it/cie")
    expect(link).to_have_attribute("href", "https://comune.example.it/cie")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(rich.get_by_role("link", name="agenda")).to_have_attribute(
        "href", "https://comune.example.it/agenda?s=cie&t=1"
    )
    assert "Se 1 < 2 & 3 > 2, prenoti qui: agenda" in rich.inner_text()
    assert rich.locator("script, img, [onerror]").count() == 0 and page.evaluate("window.__xss") is None
    # the citizen's own text is never read as markup
    _send(page, w, "**grazie** <b>mille</b>")
    expect(w["log"].locator(".urp-msg.citizen").last.locator("b, strong")).to_have_count(0)
    # the history shows it formatted again after a reload
    page.reload()
    w = _open_with_keyboard(page, "Space")
    expect(w["log"].locator(".urp-msg.comune.rich ul > li")).to_have_count(2)

    shots = os.environ.get("WIDGET_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        for name, (width, height) in {"laptop": (1366, 768), "tablet": (768, 1024), "phone": (390, 844)}.items():
            page.set_viewport_size({"width": width, "height": height})
            page.evaluate("document.querySelector('.urp-chat-log').scrollTop = 1e9")  # the reply's end, its links
            page.screenshot(path=str(Path(shots) / f"widget-markdown-{name}.png"))
    assert not [e for e in page.errors if "pageerror" in e], page.errors  # type: ignore[attr-defined]


def test_widget_rebuilds_the_servers_html_through_its_own_allow_list(page: Any) -> None:
    """Defence in depth: even HTML the server should never send (a script, handlers, a javascript: link, a form) is
    rebuilt by the widget into plain allowed elements. The socket is played by the test (Playwright's WebSocket
    routing), so the widget gets exactly this history."""
    from playwright.sync_api import expect

    hostile = (
        '<p>Ecco <strong>in grassetto</strong> <a href="javascript:window.__xss=1">finto</a> '
        '<a href="https://comune.example.it/x" onclick="window.__xss=2" style="color:red">vero</a></p>'
        '<script>window.__xss=3</script><img src="x" onerror="window.__xss=4"><style>body{display:none}</style>'
        '<iframe src="https://example.com"></iframe><form action="https://evil.example"><input name="cf">'
        '</form><ul><li onmouseover="window.__xss=5">uno</li></ul>'
    )

    def on_socket(ws: Any) -> None:
        def on_message(message: str | bytes) -> None:
            if json.loads(message).get("type") == "hello":
                ws.send(
                    json.dumps(
                        {
                            "type": "history",
                            "session": "s-0123456789abcdef",
                            "messages": [
                                {"id": 1, "author": "comune", "text": "testo", "html": hostile, "buttons": []}
                            ],
                        }
                    )
                )

        ws.on_message(on_message)

    page.route_web_socket(re.compile(r".*/channels/web/ws$"), on_socket)
    page.goto("/")
    w = _open_with_keyboard(page)
    rich = w["log"].locator(".urp-msg.comune.rich")
    expect(rich.locator("li")).to_have_text(["uno"])
    expect(rich.locator("strong")).to_have_text("in grassetto")
    expect(rich.get_by_role("link")).to_have_count(1)
    link = rich.get_by_role("link", name="vero")
    expect(link).to_have_attribute("href", "https://comune.example.it/x")
    assert link.get_attribute("onclick") is None and link.get_attribute("style") is None
    assert "finto" in rich.inner_text() and "__xss" not in rich.inner_text()
    assert rich.locator("script, img, style, iframe, form, input, [onmouseover]").count() == 0
    rich.get_by_text("uno").hover()
    assert page.evaluate("window.__xss") is None
    assert page.evaluate("getComputedStyle(document.body).display") != "none"
