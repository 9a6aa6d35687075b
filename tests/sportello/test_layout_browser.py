"""Every sportello page in Chromium (see tests/browser.py) at a phone's size (390x844): signed out, then as a citizen
signed in through the real provider with a booking made in the browser, a request, a conversation and an istanza in
the area personale; no page scrolls sideways and none logs a script error; the phone menu opens and closes.

The pages are the booking journey's steps and every page reached by links from the home page, the area personale and
the lists (one per path shape). With URP_SCREENS=<dir> (scripts/screenshots.py) each page is also saved at 1366x768,
768x1024 and 390x844."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser import SIZES, browser, browser_pages, misshapen, shoot, sideways  # noqa: F401  (browser: the fixture)
from tests.conftest import DB
from tests.sportello.conftest import Desk
from tests.sportello.test_journeys_browser import seed_request_and_chat, sign_in

PHONE = {"width": SIZES["phone"][0], "height": SIZES["phone"][1]}
TABLET = {"width": SIZES["tablet"][0], "height": SIZES["tablet"][1]}
LINKS = """() => [...document.querySelectorAll('a[href^="/sportello/"]')].map(a => a.getAttribute('href'))"""
SKIP = re.compile(r"/static/|\.pdf|/ics/|\.ics|/accesso|/esci|/jwks|#")


def _name(url: str) -> str:
    return "sportello-" + (re.sub(r"[^a-z0-9]+", "-", url.removeprefix("/sportello/").lower()).strip("-") or "home")


def test_no_page_scrolls_sideways_on_a_phone(
    browser: Any,  # noqa: F811
    desk: Desk,
    db: DB,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    seed_request_and_chat(db, desk, "layout")  # the area personale lists them
    problems: list[str] = []
    seen: set[str] = set()

    def check(page: Any, name: str) -> None:
        problems.extend(f"{name} ({page.url}): {p}" for p in sideways(page))
        problems.extend(f"{name} ({page.url}), phone: {p}" for p in misshapen(page))
        page.set_viewport_size(TABLET)
        problems.extend(f"{name} ({page.url}), tablet: {p}" for p in misshapen(page))
        page.set_viewport_size(PHONE)
        shoot(page, name)

    with browser_pages(browser, request, tmp_path, viewport=PHONE) as make:
        page = make()
        for path in ("/sportello/", "/sportello/accesso", "/sportello/pagina-che-non-esiste"):
            page.goto(desk.url + path)
            check(page, _name(path) + "-anonimo")
        # an address no page has: the desk's Italian page, header and footer, not the API's JSON
        expect(page.get_by_role("heading", level=1)).to_have_text("Pagina non trovata")
        sign_in(page, desk, "Mario Rossi", "/sportello/area-personale")

        # the booking journey, step by step
        page.goto(desk.url + "/sportello/servizi/carta-identita")
        check(page, "sportello-servizio")
        page.get_by_role("link", name="Prenota appuntamento", exact=True).and_(
            page.locator("[data-element=service-booking-access]")
        ).click()
        page.get_by_label("Motivo dell'appuntamento").fill("Rinnovo della carta scaduta")
        check(page, "sportello-prenota-ufficio")
        page.get_by_role("button", name="Avanti").click()
        page.locator(".sp-day").last.click()
        expect(page.locator(".sp-day").last).to_have_attribute("aria-current", "date")
        page.locator(".sp-slot label").last.click()
        check(page, "sportello-prenota-orario")
        page.get_by_role("button", name="Avanti").click()
        check(page, "sportello-prenota-dati")
        page.get_by_label("E-mail", exact=True).fill("mario.rossi@example.org")
        page.get_by_role("button", name="Avanti").click()
        check(page, "sportello-prenota-riepilogo")
        page.get_by_role("button", name="Conferma la prenotazione").click()
        expect(page.locator("[data-sp-code]")).to_be_visible()
        check(page, "sportello-prenota-fatto")
        seen.add(re.sub(r"\d+", "N", page.url.removeprefix(desk.url)))

        # every page reached by links, one of each shape
        todo = ["/sportello/", "/sportello/area-personale", "/sportello/istanze", "/sportello/segnala"]
        while todo and len(seen) < 40:
            url = todo.pop(0)
            shape = re.sub(r"\d+", "N", url.split("?")[0])
            if shape in seen or SKIP.search(url):
                continue
            seen.add(shape)
            r = page.goto(desk.url + url)
            if r is None or r.status != 200:
                continue
            check(page, _name(url))
            todo += [u for u in page.evaluate(LINKS) if u not in todo]
        assert {"/sportello/area-personale", "/sportello/istanze", "/sportello/segnala", "/sportello/privacy"} <= seen
        assert any(s.startswith("/sportello/area-personale/") for s in seen), seen
        # the "not found" page is answered 404 on purpose (the console's "Failed to load resource" is that answer)
        unexpected = [
            e
            for e in page.errors
            if not e.startswith("console.error: Failed to load resource") and "pagina-che-non-esiste" not in e
        ]
        assert unexpected == []
    assert problems == [], "\n".join(problems)


def test_the_menu_opens_and_closes_on_a_phone(
    browser: Any,  # noqa: F811
    desk: Desk,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    with browser_pages(browser, request, tmp_path, viewport=PHONE) as make:
        page = make()
        page.goto(desk.url + "/sportello/")
        nav = page.get_by_role("navigation", name="Menu principale")
        link = nav.get_by_role("link", name="Istanze online")
        toggler = nav.get_by_role("button", name="Menu", exact=True)
        expect(link).to_be_hidden()
        toggler.click()
        expect(link).to_be_visible()
        expect(toggler).to_have_attribute("aria-expanded", "true")
        assert sideways(page) == []
        toggler.click()
        expect(link).to_be_hidden()
        expect(toggler).to_have_attribute("aria-expanded", "false")
