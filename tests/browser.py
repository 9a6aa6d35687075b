"""Shared pieces of the browser tests: Debian's headless Chromium driven by Playwright (executable_path: Playwright
never downloads a browser), a fresh browser context per page with its screenshot, HTML and console saved on a failure,
and axe-core (vendored from npm by `make setup-console`) run inside the page.

Without /usr/bin/chromium (scripts/setup_browser.sh installs it), the playwright package or axe-core the tests skip,
unless CI=true or URP_REQUIRE_RASA=1 make that a failure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
# as root on this machine: no sandbox; and nothing that phones home (the network is closed, refused connections
# pile up); Playwright gives the browser a fresh, empty user-data dir of its own
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--lang=it-IT",  # the browser's own words and formats as an Italian office has them (see the launch below)
]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
UI_TIMEOUT = 15_000  # ms


def required() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("URP_REQUIRE_RASA") == "1"


def unavailable(reason: str) -> None:
    if required():
        pytest.fail(f"{reason}; required here (CI=true or URP_REQUIRE_RASA=1): run `make setup`")
    pytest.skip(reason)


def require_axe() -> None:
    if not AXE.exists():
        unavailable(f"axe-core not found at {AXE} (`make setup-console` installs it with npm ci)")


# module: Playwright's sync API runs an event loop in this thread while it is open; later tests may need the thread
# (asyncio.run) and the browser starts in about a second
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (pip install -e '.[test]')")
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"no Chromium at {CHROMIUM} (scripts/setup_browser.sh installs Debian's chromium)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            timeout=60_000,
            # Chromium on Linux takes its language from here (a date field's dd/mm/yyyy, 24-hour time fields), once
            # Debian's chromium-l10n is there; with en-US alone it keeps mm/dd/yyyy and AM/PM in the screenshots
            env={**os.environ, "LANG": "it_IT.UTF-8", "LANGUAGE": "it"},
        )
        try:
            yield b
        finally:
            b.close()


def new_page(browser: Any, **context_options: Any) -> Any:
    """A page in a fresh context (its own cookies and storage); ``page.errors`` collects JavaScript errors, console
    errors (a CSP violation is one) and HTTP answers >= 400 ("HTTP <status> <resource type>: <url>")."""
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT)
    context = browser.new_context(**{"locale": "it-IT", **context_options})
    context.set_default_timeout(UI_TIMEOUT)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    pg.on("console", lambda msg: errors.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None)
    pg.on(
        "response",
        lambda r: errors.append(f"HTTP {r.status} {r.request.resource_type}: {r.url}") if r.status >= 400 else None,
    )
    pg.errors = errors  # type: ignore[attr-defined]
    return pg


def save_failure(pages: list[Any], request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """On a failed test (see pytest_runtest_makereport in tests/channels/conftest.py) keep each page's screenshot,
    HTML and console messages in the test's tmp_path."""
    rep = getattr(request.node, "rep_call", None)
    if rep is None or not rep.failed:
        return
    for i, pg in enumerate(pages):
        suffix = "" if len(pages) == 1 else f"-{i}"
        try:
            pg.screenshot(path=str(tmp_path / f"failure{suffix}.png"), full_page=True)
            (tmp_path / f"failure{suffix}.html").write_text(pg.content())
            (tmp_path / f"console{suffix}.txt").write_text(pg.url + "\n" + "\n".join(pg.errors))
        except Exception as exc:  # noqa: BLE001 - the original failure matters more
            print(f"\ncould not save the failure's screenshot: {exc}")
    print(f"\nbrowser screenshot, HTML and console of the failure in {tmp_path}")


@contextmanager
def browser_pages(
    browser: Any, request: pytest.FixtureRequest, tmp_path: Path, **context_options: Any
) -> Iterator[Any]:
    """Yields a factory of pages (one fresh context each: one signed-in user each); on a failure every page's
    screenshot is saved; all contexts are closed at the end."""
    pages: list[Any] = []

    def make(**extra: Any) -> Any:
        pg = new_page(browser, **{**context_options, **extra})
        pages.append(pg)
        return pg

    try:
        yield make
    finally:
        save_failure(pages, request, tmp_path)
        for pg in pages:
            pg.context.close()


AXE_RUN = """async (options) => {
    const r = await axe.run(document, options);
    return {passed: r.passes.map(p => p.id), violations: r.violations.map(v => ({id: v.id, impact: v.impact,
            help: v.help, nodes: v.nodes.slice(0, 10).map(n => ({target: n.target.join(' '),
            html: n.html.slice(0, 160), summary: (n.failureSummary || '').slice(0, 300)}))}))};
}"""


def axe(page: Any, rules: dict[str, dict[str, bool]] | None = None) -> dict[str, Any]:
    """axe-core on the page as it is now: ``{"passed": [rule ids], "violations": [...]}``. The script is added to the
    page, so a page with a strict Content-Security-Policy needs a context made with bypass_csp=True."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    options: dict[str, Any] = {"resultTypes": ["violations"]}
    if rules:
        options["rules"] = rules
    return page.evaluate(AXE_RUN, options)


# --- layout: the three sizes every screen is looked at, sideways scrolling, screenshots -------------------------------
SIZES = {"desktop": (1366, 768), "tablet": (768, 1024), "phone": (390, 844)}
SCREENS = os.environ.get("URP_SCREENS")  # scripts/screenshots.py sets it (var/screens): every screen, three sizes

SIDEWAYS = """() => {
    const w = window.innerWidth, s = document.scrollingElement.scrollWidth;
    if (s <= w) return [];
    const out = [`scrollWidth ${s} > innerWidth ${w}`];
    for (const el of document.body.querySelectorAll('*')) {
        if (el.parentElement && el.parentElement.closest('.table-responsive, .ws-messages, pre')) continue;
        const r = el.getBoundingClientRect();
        const spills = el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === 'visible'
            && r.left + el.scrollWidth > w + 1;
        if ((r.width > 0 && r.right > w + 1) || spills) {
            out.push(`<${el.tagName.toLowerCase()} id="${el.id}" class="${el.className}"> right ${Math.round(r.right)}`
                     + (spills ? `, its content ${el.scrollWidth} wide` : ''));
            if (out.length > 6) break;
        }
    }
    return out;
}"""


def sideways(page: Any) -> list[str]:
    """[] when the page does not scroll sideways (document.scrollingElement.scrollWidth <= innerWidth); otherwise
    the widths and the first elements that stick out (tables scroll inside their own .table-responsive box)."""
    return list(page.evaluate(SIDEWAYS))


# a short label that breaks over two lines looks broken: a button ("Mostra gli orari | liberi"), a code ("RQ- | WJFD4C",
# also as a table row's link) or a footer link; so does a fieldset's legend indented from the labels under it (Bootstrap
# Italia pads legends)
MISSHAPEN = """() => {
    const out = [];
    const visible = el => el.offsetParent !== null || getComputedStyle(el).position === 'fixed';
    // the text a sighted reader sees (not the words kept for screen readers in .visually-hidden) and its lines
    const shown = el => {
        const nodes = [], walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
        while (walk.nextNode()) {
            if (!walk.currentNode.parentElement.closest('.visually-hidden')) nodes.push(walk.currentNode);
        }
        return nodes;
    };
    const lines = nodes => {
        const mids = new Set();
        for (const n of nodes) {
            const r = document.createRange(); r.selectNodeContents(n);
            for (const x of r.getClientRects()) {
                if (x.width > 1 && x.height > 1) mids.add(Math.round(x.top + x.height / 2));
            }
        }
        return mids.size;
    };
    for (const el of document.querySelectorAll(
            'main .btn, main .code, main th[scope=row] > a, .it-footer-small-prints-list a')) {
        const nodes = shown(el);
        const text = nodes.map(n => n.textContent).join('').replace(/\\s+/g, ' ').trim();
        if (!text || text.length > 24 || !visible(el)) continue;
        if (el.matches('th > a') && !/^[A-Z]{2,3}-[A-Z0-9]{4,}$/.test(text)) continue;  // a row's code, not its name
        const n = lines(nodes);
        if (n > 1) out.push(`«${text}» (<${el.tagName.toLowerCase()} class="${el.className}">) on ${n} lines`);
    }
    for (const lg of document.querySelectorAll('main fieldset > legend')) {
        if (!visible(lg) || lg.classList.contains('visually-hidden')) continue;
        const fs = lg.parentElement, cs = getComputedStyle(fs);
        const edge = fs.getBoundingClientRect().left + parseFloat(cs.borderLeftWidth) + parseFloat(cs.paddingLeft);
        const r = document.createRange(); r.selectNodeContents(lg);
        const left = r.getBoundingClientRect().left;
        if (Math.abs(left - edge) > 2) out.push(`legend «${lg.textContent.trim()}» ${Math.round(left - edge)}px off`);
    }
    return out;
}"""


def misshapen(page: Any) -> list[str]:
    """[] when no short label (button, code, footer link: up to 24 characters) breaks over two lines and every
    fieldset's legend starts on the fieldset's left edge; otherwise what is wrong, one line each."""
    return list(page.evaluate(MISSHAPEN))


def shoot(page: Any, name: str) -> None:
    """With URP_SCREENS set: a full-page screenshot of the page at each of the three sizes (<dir>/<name>-<size>.png);
    the page is back at its own size afterwards."""
    if not SCREENS:
        return
    Path(SCREENS).mkdir(parents=True, exist_ok=True)
    was = page.viewport_size
    for size, (w, h) in SIZES.items():
        page.set_viewport_size({"width": w, "height": h})
        page.wait_for_timeout(150)  # media queries and the header's script settle
        page.screenshot(path=f"{SCREENS}/{name}-{size}.png", full_page=True)
    page.set_viewport_size(was)
