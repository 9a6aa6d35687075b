"""The desk in Debian's Chromium (Playwright), on a phone and on a laptop: sign in through the real provider's page,
book from a service page, see the booking in the area personale and cancel it; rate a page; axe-core on every
screen. SP_SCREENSHOTS=<dir> also keeps a screenshot of every screen at 1366x768, 768x1024 and 390x844."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.browser import axe, browser, browser_pages, require_axe  # noqa: F401 - browser is a fixture
from tests.sportello.conftest import Desk

SIZES = {"laptop": (1366, 768), "tablet": (768, 1024), "phone": (390, 844)}
SHOTS = os.environ.get("SP_SCREENSHOTS")


def check_axe(page: Any, name: str) -> None:
    """axe-core finds nothing serious, and the page does not scroll sideways (at 390 px the sign-in button used to
    stick out of the header)."""
    serious = [v for v in axe(page)["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == [], f"{name}: {serious}"
    width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], f"{name} scrolls sideways: {width}"


def shoot(page: Any, name: str) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    was = page.viewport_size
    for size, (w, h) in SIZES.items():
        page.set_viewport_size({"width": w, "height": h})
        page.screenshot(path=f"{SHOTS}/{name}-{size}.png", full_page=True)
    page.set_viewport_size(was)  # the journey goes on at its own size


@pytest.mark.parametrize("device", ["phone", "laptop"])
def test_sign_in_book_see_cancel_rate(
    browser: Any,
    desk: Desk,
    request: pytest.FixtureRequest,  # noqa: F811
    tmp_path: Path,
    device: str,
) -> None:
    from playwright.sync_api import expect

    require_axe()
    w, h = SIZES[device]
    with browser_pages(browser, request, tmp_path, viewport={"width": w, "height": h}, bypass_csp=True) as make:
        page = make()
        page.goto(desk.url + "/sportello/")
        check_axe(page, "home")
        shoot(page, "home")
        page.get_by_role("link", name="Accedi all'area personale").click()
        check_axe(page, "sign-in")
        shoot(page, "sign-in")
        page.get_by_role("link", name="Entra con SPID (prova)").click()
        page.get_by_label("Luca Bianchi").check()
        page.get_by_role("button", name="Autorizza e entra").click()
        page.wait_for_url(desk.url + "/sportello/")  # back where the citizen was, now signed in
        page.locator("[data-element=personal-area-login]").click()
        expect(page.get_by_role("heading", name="Area personale")).to_be_visible()
        check_axe(page, "area")
        page.goto(desk.url + "/sportello/servizi/carta-identita")
        check_axe(page, "service")
        shoot(page, "service")
        page.get_by_role("link", name="Prenota appuntamento", exact=True).and_(
            page.locator("[data-element=service-booking-access]")
        ).click()
        page.get_by_label("Motivo dell'appuntamento").fill("Rinnovo della carta scaduta")
        check_axe(page, "booking-office")
        shoot(page, "booking-office")
        page.get_by_role("button", name="Avanti").click()
        page.locator(".sp-day").last.click()  # a day well ahead: before the cancellation deadline
        expect(page.locator(".sp-day").last).to_have_attribute("aria-current", "date")
        page.locator(".sp-slot label").last.click()
        check_axe(page, "booking-time")
        shoot(page, "booking-time")
        page.get_by_role("button", name="Avanti").click()
        check_axe(page, "booking-data")
        shoot(page, "booking-data")
        page.get_by_label("E-mail", exact=True).fill("luca.bianchi@example.org")
        page.get_by_role("button", name="Avanti").click()
        check_axe(page, "booking-summary")
        shoot(page, "booking-summary")
        page.get_by_role("button", name="Conferma la prenotazione").click()
        code = page.locator("[data-sp-code]").inner_text()
        check_axe(page, "booking-done")
        shoot(page, "booking-done")
        # the rating at the end of the service: 4 stars, a follow-up, sent without leaving the page
        page.locator("label[for=star4]").click()
        page.get_by_text("Le indicazioni erano chiare").click()
        page.get_by_role("button", name="Invia la valutazione").click()
        expect(page.get_by_text("Grazie, il tuo parere ci aiuterà a migliorare il servizio!")).to_be_visible()
        page.get_by_role("link", name="area personale").first.click()
        expect(page.get_by_text(code)).to_be_visible()
        shoot(page, "area")
        page.get_by_role("link", name="Carta d'identità elettronica").first.click()
        check_axe(page, "area-booking")
        shoot(page, "area-booking")
        page.get_by_role("button", name="Annulla l'appuntamento").click()
        expect(page.get_by_text("Appuntamento annullato.")).to_be_visible()
        page.goto(desk.url + "/sportello/segnala")
        check_axe(page, "report")
        shoot(page, "report")
        page.goto(desk.url + "/sportello/istanze/istanza-generica/passo/2")
        check_axe(page, "instance-step")
        shoot(page, "instance-step")
        # HTTP answers >= 400 are listed with their URL; the console's copy of them carries none
        assert [e for e in page.errors if not e.startswith("console.error: Failed to load resource")] == []
