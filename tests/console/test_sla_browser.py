"""The chat SLA in Chromium (tests/browser.py), on a server of our own whose scheduler serves a fresh ente:

- a handed-off chat whose first-response time ran out is escalated by the scheduler: the admin's open workspace
  beeps, raises the notification and shows "Oltre il tempo" with its icon and the time over, without a reload;
- the list, the thread header and the settings section: axe clean, screenshots at the three sizes (looked at)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.browser import axe, browser, browser_pages, require_axe  # noqa: F401  (browser: the module fixture)
from tests.conftest import Server, make_ente, start_server
from tests.console.test_workspace_browser import (
    SHOTS,
    SIZES,
    SPY,
    _handed_off,
    _live,
    _login,
    _mark,
    _not_reloaded,
    _until,
)


@pytest.fixture(scope="module")
def desk(db: Any, base_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Any]]:
    """A server whose web chat and scheduler serve a fresh ente (no Rasa: a first message is handed off)."""
    ente = make_ente(db)
    srv = start_server(
        {
            **base_env,
            "URP_DEFAULT_ENTE": ente.slug,
            "URP_SCHEDULER": "true",
            "URP_SCHEDULER_ENTES": ente.slug,
            "URP_SCHEDULER_INTERVAL_SECONDS": "0.5",
        },
        tmp_path_factory.mktemp("sla") / "server.log",
    )
    yield srv, ente
    srv.proc.terminate()
    srv.proc.wait(timeout=15)


@pytest.fixture
def pages(
    browser: Any, desk: tuple[Server, Any], request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., Any]]:
    with browser_pages(browser, request, tmp_path, viewport=SIZES["desktop"], base_url=desk[0].url) as make:
        yield make


def _age(db: Any, conv: int, days: int) -> None:
    """Move the handoff back in time (the clock runs on office hours: 30 days is late whatever today is)."""
    from crm.conversations.models import Conversation
    from crm.db import utcnow

    async def work(s: Any) -> None:
        await s.execute(
            update(Conversation).where(Conversation.id == conv).values(handoff_at=utcnow() - timedelta(days=days))
        )

    db.run(work)


def test_a_late_chat_alerts_the_supervisor_live(db: Any, desk: tuple[Server, Any], pages: Callable[..., Any]) -> None:
    from playwright.sync_api import expect

    server, ente = desk
    page = pages(permissions=["notifications"])
    page.add_init_script(SPY)
    _login(page, ente.usernames["admin"])
    page.goto("/console/inbox?view=waiting")
    _mark(page)
    _live(page)
    citizen, conv = _handed_off(server, ente, "Vorrei parlare con qualcuno dell'ufficio tributi")
    item = page.locator(f'.ws-item[data-id="{conv}"]')
    expect(item.locator(".ws-sla")).to_contain_text("In tempo")
    _until(page, "window.__notes.length === 1")  # the new waiting chat
    _age(db, conv, 30)
    # the scheduler escalates it; the event reaches the open page: sound, notification, banner, the badge
    _until(page, "window.__notes.length === 2", timeout=20)
    assert page.evaluate("window.__notes[1]") == {
        "title": "Sportello URP",
        "body": "Una conversazione ha superato il tempo di prima risposta",
    }
    assert page.evaluate("window.__beeps") == 2
    expect(page.locator("#ws-escalated")).to_contain_text("ha superato il tempo di prima risposta")
    badge = item.locator(".ws-sla")
    expect(badge).to_contain_text("Oltre il tempo")
    expect(badge).to_contain_text("in ritardo di")
    expect(badge.locator(".ws-sla-icon")).to_have_attribute("aria-hidden", "true")
    _not_reloaded(page)
    citizen.close()


def test_sla_screens_at_three_sizes_with_axe(db: Any, desk: tuple[Server, Any], pages: Callable[..., Any]) -> None:
    """The list and the thread with a late and an in-time chat, and the settings section: axe clean, screenshots at
    1366x768, 768x1024 and 390x844."""
    from playwright.sync_api import expect

    require_axe()
    server, ente = desk
    late_citizen, late = _handed_off(server, ente, "Devo rinnovare la carta d'identità, è urgente")
    _age(db, late, 30)
    fresh_citizen, fresh = _handed_off(server, ente, "Una domanda sulla TARI")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, size in SIZES.items():
        page = pages(viewport=size, bypass_csp=True)
        _login(page, ente.usernames["admin"])
        for what, url in (
            ("list", "/console/inbox?view=waiting"),
            ("thread", f"/console/conversations/{late}?view=waiting"),
            ("settings", "/console/settings#sla"),
        ):
            page.goto(url)
            if what != "settings":
                _live(page)
                page.wait_for_timeout(500)
            if what == "thread":
                expect(page.locator("#ws-head")).to_contain_text("Prima risposta:")
                expect(page.locator("#ws-head .ws-sla")).to_contain_text("Oltre il tempo")
            if what == "list":
                expect(page.locator(f'.ws-item[data-id="{fresh}"] .ws-sla')).to_contain_text("In tempo")
            if what == "settings":
                page.locator("#sla").scroll_into_view_if_needed()
            page.screenshot(path=str(SHOTS / f"sla-{what}-{name}.png"))
            result = axe(page)
            assert not result["violations"], (name, what, [(v["id"], v["nodes"]) for v in result["violations"]])
    late_citizen.close()
    fresh_citizen.close()
