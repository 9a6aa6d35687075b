"""The chat widget is set in Titillium Web, Bootstrap Italia's typeface, on any page it is pasted on: its stylesheet
declares the vendored faces, served beside it (with CORS, for pages of another origin). Before, it named the font
and fell back to the system's when the page did not load it (DejaVu Sans on Debian, Segoe UI on Windows)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import browser, browser_pages  # noqa: F401  (browser: the session fixture)
from tests.conftest import Server

FACE = "/widget-fonts/titillium-web-v10-latin-ext_latin-regular.woff2"
# a page of another origin (localhost, another port: Chromium keeps public pages off loopback addresses) that pastes
# the widget and loads no font of its own
HOST_PAGE = """<!doctype html><html lang="it"><head><meta charset="utf-8"><title>Comune</title>
<style>body { font-family: serif; }</style></head><body><h1>Comune</h1>
<script src="{url}/widget.js" defer></script></body></html>"""


def test_widget_fonts_are_served_with_cors(client: httpx.Client) -> None:
    css = client.get("/widget.css").text
    assert '@font-face { font-family: "Titillium Web"' in css and f'url("{FACE[1:]}")' in css
    r = client.get(FACE)
    assert r.status_code == 200 and r.headers["content-type"] == "font/woff2" and r.content[:4] == b"wOF2"
    assert r.headers["access-control-allow-origin"] == "*"
    assert client.get("/widget-fonts/..%2F..%2Fwidget.js").status_code == 404
    assert client.get("/widget-fonts/OFL.txt").status_code == 404


def test_widget_is_set_in_titillium_web_on_another_sites_page(
    server: Server,
    browser: Any,  # noqa: F811
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    body = HOST_PAGE.replace("{url}", server.url).encode()

    class Host(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802  (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    host = ThreadingHTTPServer(("127.0.0.1", 0), Host)
    threading.Thread(target=host.serve_forever, daemon=True).start()
    try:
        with browser_pages(browser, request, tmp_path, viewport={"width": 390, "height": 844}) as make:
            page = make()
            page.goto(f"http://localhost:{host.server_address[1]}/")
            launcher = page.get_by_role("button", name="Scrivi al Comune")
            expect(launcher).to_be_visible()
            launcher.click()
            expect(page.get_by_role("dialog", name="Assistente del Comune")).to_be_visible()
            got = page.evaluate(
                """async () => { await document.fonts.ready;
                    const faces = [...document.fonts].filter(f => f.family.replace(/"/g, '') === 'Titillium Web');
                    return [getComputedStyle(document.querySelector('.urp-chat-panel')).fontFamily,
                            faces.filter(f => f.status === 'loaded').map(f => f.weight + ' ' + f.style).sort(),
                            document.fonts.check('16px "Titillium Web"')]; }"""
            )
    finally:
        host.shutdown()
    family, loaded, check = got
    assert family.startswith('"Titillium Web"'), family
    assert "400 normal" in loaded and check is True, got
