"""Every console screen in Chromium (see tests/browser.py) at a phone's size (390x844), as each role sees it, with a
day's work in it (tests/console/test_italian.py's world, and a knowledge-base draft): none scrolls sideways, each has
the vendored Titillium Web and Bootstrap Italia's script, none logs a script or CSP error; on a phone the main menu is
a button that opens and closes Bootstrap Italia's drawer, on a laptop it is a row of links.

The screens are those the Italian crawler reaches by links from each role's landing pages (one per path shape).
With URP_SCREENS=<dir> (scripts/screenshots.py) each screen is also saved at 1366x768, 768x1024 and 390x844."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import (  # noqa: F401  (browser: the fixture)
    SCREENS,
    SIZES,
    browser,
    browser_pages,
    misshapen,
    shoot,
    sideways,
)
from tests.conftest import DB, PASSWORD, EnteCtx, Server, make_ente
from tests.console.test_console import login
from tests.console.test_italian import _crawl, _world

ROLES = ("admin", "operator", "phone_operator", "backoffice")
PHONE = {"width": SIZES["phone"][0], "height": SIZES["phone"][1]}
LAPTOP = {"width": SIZES["desktop"][0], "height": SIZES["desktop"][1]}
TABLET = {"width": SIZES["tablet"][0], "height": SIZES["tablet"][1]}


def _look(page: Any) -> list[str]:
    """What looks wrong on the open screen: sideways scrolling on a phone, a short label broken over two lines or a
    legend out of line on a phone or a tablet (tests/browser.py); the page is back at a phone's size afterwards."""
    found = sideways(page) + [f"phone: {m}" for m in misshapen(page)]
    page.set_viewport_size(TABLET)
    found += [f"tablet: {m}" for m in misshapen(page)]
    page.set_viewport_size(PHONE)
    return found


@pytest.fixture(scope="module")
def office(server: Server, db: DB) -> Iterator[tuple[EnteCtx, dict[str, Any]]]:
    ente = make_ente(db)
    with httpx.Client(base_url=server.url, timeout=30) as c:
        w = _world(c, ente, db)
        # a draft, and a published article: the curators' gap list gets both tabs filled (questions nobody
        # answered, an answer judged not helpful, questions sent to another body), and a question is weighed against
        # another body's topics only beside a published article of the Comune's own
        for article in (
            {
                "slug": "orari-anagrafe",
                "title": "Orari dell'anagrafe",
                "body": "L'anagrafe è aperta dal lunedì al venerdì dalle 8:30 alle 12:30 e il giovedì pomeriggio.",
                "topic": "urp",
            },
            {
                "slug": "tari-scadenze",
                "title": "Scadenze della TARI",
                "body": "La TARI si paga in due rate, entro il 16 giugno e il 16 dicembre, con il modello F24.",
                "topic": "urp",
                "status": "published",
            },
        ):
            r = c.post("/api/v1/kb/articles", headers=ente.headers("admin"), json=article)
            assert r.status_code == 201, r.text
        for q in (
            "come rinnovo il passaporto scaduto?",
            "dove rinnovo il passaporto per mio figlio",
            "il bollo auto dove si paga?",
            "a che ora chiude il cimitero comunale?",
            "il cimitero è aperto la domenica pomeriggio?",
            "serve un permesso per una festa di compleanno in piazza?",
        ):
            found = c.get("/api/v1/kb/search", params={"q": q}, headers=ente.headers("service"))
            assert found.status_code == 200 and not found.json()["answerable"], found.text
        c.post(
            "/api/v1/kb/feedback",
            headers=ente.headers("service"),
            json={"slug": "tari-scadenze", "query": "posso pagare la TARI a rate mensili?", "helpful": False},
        ).raise_for_status()
        twin = c.post(
            "/api/v1/contacts",
            headers=ente.headers("operator"),
            json={"first_name": "Maria", "last_name": "Bianchi", "phones": ["+39 347 5550002"]},
        )
        assert twin.status_code == 201, twin.text
        w["twin"] = twin.json()["id"]
    yield ente, w


def _screens(server: Server, ente: EnteCtx, w: dict[str, Any], role: str) -> list[str]:
    details = [
        f"/console/conversations/{w['conversation']}",
        f"/console/contacts/{w['contact']}",
        f"/console/requests/{w['ticket']}",
        f"/console/instances/{w['instance']}",
        # the screens reached through forms: the phone desk's caller, booking, istanza and confirmations, a booking
        # moved, two contacts merged (a role that may not open one gets 403 and the crawl leaves it out)
        "/console/inbox",
        f"/console/intake/{w['contact']}",
        f"/console/intake/{w['contact']}/book",
        f"/console/intake/{w['contact']}/instance",
        f"/console/intake/{w['contact']}/done/request/{w['ticket']}",
        f"/console/intake/{w['contact']}/done/booking/{w['booking']}",
        f"/console/intake/{w['contact']}/done/instance/{w['instance']}",
        f"/console/bookings/{w['booking']}/reschedule",
        f"/console/contacts/{w['contact']}/merge/{w['twin']}",
        "/console/kb/gaps",
        "/console/kb/gaps?tipo=altri-enti",  # the gap list's two tabs, both with questions in them
    ]
    c = login(server, ente, role)
    try:
        return sorted(_crawl(c, ["/console/", "/console/inbox?view=mine", *details], limit=60))
    finally:
        c.close()


def _sign_in(page: Any, username: str) -> None:
    from playwright.sync_api import expect

    page.goto("/console/login")
    page.get_by_label("Nome utente").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page).to_have_url(re.compile(r"/console/(?!login)"))


def _name(url: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", url.removeprefix("/console/").lower()).strip("-") or "home"


@pytest.mark.parametrize("role", ROLES)
def test_no_screen_scrolls_sideways_on_a_phone(
    role: str,
    server: Server,
    office: tuple[EnteCtx, dict[str, Any]],
    browser: Any,  # noqa: F811
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    ente, w = office
    screens = _screens(server, ente, w, role)
    assert len(screens) >= (20 if role == "admin" else 8), screens
    problems: list[str] = []
    with browser_pages(browser, request, tmp_path, viewport=PHONE, base_url=server.url) as make:
        page = make()
        if role == "admin":  # the sign-in page, before anyone is signed in
            page.goto("/console/login")
            problems += [f"/console/login: {p}" for p in _look(page)]
            shoot(page, "console-login")
        _sign_in(page, ente.usernames[role])
        for url in screens:
            page.goto(url)
            problems += [f"{url}: {p}" for p in _look(page)]
            shoot(page, f"console-{role}-{_name(url)}")
        # an address no screen has: the console's Italian page, not the API's JSON
        r = page.goto("/console/pagina-che-non-esiste")
        assert r is not None and r.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text("Pagina non trovata")
        problems += [f"not found: {p}" for p in _look(page)]
        shoot(page, f"console-{role}-non-trovata")
        fonts = page.evaluate(
            """async () => { await document.fonts.ready;
                return [getComputedStyle(document.body).fontFamily, document.fonts.check('16px "Titillium Web"'),
                        typeof window.bootstrap]; }"""
        )
        assert fonts[0].startswith('"Titillium Web"') and fonts[1] is True and fonts[2] == "object", fonts
        # the "not found" page is answered 404 on purpose (the console's "Failed to load resource" is that answer)
        assert [e for e in page.errors if "pagina-che-non-esiste" not in e and "Failed to load resource" not in e] == []
    assert problems == [], "\n".join(problems)


def test_the_main_menu_collapses_on_a_phone(
    server: Server,
    office: tuple[EnteCtx, dict[str, Any]],
    browser: Any,  # noqa: F811
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    ente, _ = office
    with browser_pages(browser, request, tmp_path, viewport=PHONE, base_url=server.url) as make:
        page = make()
        _sign_in(page, ente.usernames["admin"])
        nav = page.get_by_role("navigation", name="Menu principale")
        link = nav.get_by_role("link", name="Richieste")
        toggler = nav.get_by_role("button", name="Menu", exact=True)
        expect(link).to_be_hidden()
        expect(toggler).to_have_attribute("aria-expanded", "false")
        box = toggler.bounding_box()
        assert box and box["height"] >= 24 and box["width"] >= 24, box  # a target a thumb can hit
        toggler.click()
        expect(link).to_be_visible()
        expect(toggler).to_have_attribute("aria-expanded", "true")
        close = nav.get_by_role("button", name="Chiudi il menu")
        expect(close).to_be_focused()  # the drawer has slid in: the focus is inside it, on its close button
        assert sideways(page) == []
        if SCREENS:
            page.screenshot(path=f"{SCREENS}/console-menu-open-phone.png")
        close.click()
        expect(link).to_be_hidden()
        expect(toggler).to_have_attribute("aria-expanded", "false")
        # the keyboard: open with Enter, Escape closes, open again and go to a screen from the drawer
        toggler.focus()
        page.keyboard.press("Enter")
        expect(close).to_be_focused()
        page.keyboard.press("Escape")
        expect(link).to_be_hidden()
        toggler.focus()
        page.keyboard.press("Enter")
        expect(close).to_be_focused()
        link.click()
        expect(page).to_have_url(re.compile(r"/console/requests$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Richieste")
        expect(nav.get_by_role("link", name="Richieste")).to_be_hidden()  # a new page starts with the menu closed

        # on a laptop: the links in a row under the header, no button
        page.set_viewport_size(LAPTOP)
        expect(link).to_be_visible()
        expect(toggler).to_be_hidden()
        assert page.errors == [], page.errors


# a table's caption a reader cannot read whole without scrolling the table: cut at the screen's edge, or wider than
# the table's box (a caption is as wide as its table, and a wide table scrolls inside .table-responsive)
CUT_CAPTIONS = """() => {
    const out = [], w = document.documentElement.clientWidth;
    for (const c of document.querySelectorAll('main caption')) {
        if (c.offsetParent === null && getComputedStyle(c).position !== 'fixed') continue;
        if (c.classList.contains('visually-hidden')) continue;
        const box = (c.closest('.table-responsive') || document.body).getBoundingClientRect();
        const r = document.createRange(); r.selectNodeContents(c);
        let right = 0; for (const x of r.getClientRects()) right = Math.max(right, x.right);
        if (right > Math.min(w, box.right) + 1 || c.scrollWidth > c.clientWidth + 1) {
            const text = c.textContent.trim().slice(0, 60);
            out.push(`«${text}» ends at ${Math.round(right)} (box ${Math.round(box.right)})`);
        }
    }
    return out;
}"""


def test_dashboard_captions_read_whole_at_every_size(
    server: Server,
    office: tuple[EnteCtx, dict[str, Any]],
    browser: Any,  # noqa: F811
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    """The dashboard's tables are wider than a phone: they scroll in their box, their captions wrap inside it."""
    ente, _ = office
    problems: list[str] = []
    with browser_pages(browser, request, tmp_path, viewport=PHONE, base_url=server.url) as make:
        page = make()
        _sign_in(page, ente.usernames["admin"])
        page.goto("/console/dashboard")
        assert page.locator("main caption").count() >= 5
        for size, (width, height) in SIZES.items():
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(150)
            problems += [f"{size}: {p}" for p in page.evaluate(CUT_CAPTIONS)]
        page.set_viewport_size(PHONE)
        shoot(page, "console-dashboard-captions")
    assert problems == [], "\n".join(problems)
