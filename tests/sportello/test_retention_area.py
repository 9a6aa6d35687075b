"""The citizen's own page for a segnalazione concluded long ago, after the retention pass: the photo's name is gone
and an Italian sentence says why (as the console does), subject and place are anonymised, no file name left."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

from tests.browser import SCREENS
from tests.sportello.conftest import Desk, mario_and_operator, sign_in

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64 + b"\xff\xd9"


def test_citizen_page_after_retention(desk: Desk, db: Any) -> None:
    from sqlalchemy import update

    from crm.config import Settings
    from crm.contacts import retention
    from crm.db import utcnow
    from crm.instances.service import FileStore
    from crm.sportello import service as sportello
    from crm.tickets import service as tickets
    from crm.tickets.models import Ticket
    from crm.tickets.schemas import TicketIn

    var = desk.server.env["URP_VAR_DIR"]
    with httpx.Client(base_url=desk.url, timeout=30, follow_redirects=False) as c:
        assert sign_in(c, desk).status_code == 200

        async def seed(s: Any) -> int:
            contact, op = await mario_and_operator(s, desk)
            t = await tickets.create(
                s,
                principal=op,
                data=TicketIn(contact_id=contact.id, kind="report", channel="web", subject="Buca in via Verdi"),
            )
            await sportello.add_report_details(
                s,
                ente_id=desk.ente.ente_id,
                ticket_id=t.id,
                category="strade",
                address="via Verdi 12",
                latitude=45.1,
                longitude=9.2,
                files=[("buca-verdi.jpg", "image/jpeg", JPEG)],
                store=FileStore(root=Path(var) / "attachments", max_bytes=2_000_000),
            )
            await s.flush()
            long_ago = utcnow() - timedelta(days=800)
            await s.execute(update(Ticket).where(Ticket.id == t.id).values(status="closed", closed_at=long_ago))
            return int(t.id)

        tid = db.run(seed)
        url = f"/sportello/area-personale/richieste/{tid}"
        before = c.get(url)
        assert before.status_code == 200 and "buca-verdi.jpg" in before.text and "via Verdi 12" in before.text
        settings = Settings(retention_closed_days=730, retention_bot_only_days=0, var_dir=var)

        async def go(maker: Any) -> dict[str, int]:
            app = SimpleNamespace(ctx=SimpleNamespace(sessionmaker=maker, settings=settings))
            return await retention.run(app, ente_id=desk.ente.ente_id)

        done = db.call(go)
        assert done["requests"] == 1 and done["request_files"] == 1, done
        page = c.get(url)
        assert page.status_code == 200
        text = page.text
        assert "Il file è stato eliminato alla scadenza dei tempi di conservazione" in text, text[-3000:]
        assert "Il luogo è stato eliminato alla scadenza dei tempi di conservazione" in text
        for gone in ("foto-cancellata", "buca-verdi", "via Verdi", "45.1", "Buca in via"):
            assert gone not in text, gone
        if SCREENS:  # scripts/screenshots.py-style: the page at the three sizes, signed in as the citizen
            _shoot(desk.url + url, c.cookies, "sportello-area-request-after-retention")


def _shoot(url: str, cookies: httpx.Cookies, name: str) -> None:
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS, new_page, shoot

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = new_page(b)
            host = httpx.URL(url).host
            page.context.add_cookies(
                [{"name": k.name, "value": k.value or "", "domain": host, "path": k.path} for k in cookies.jar]
            )
            page.goto(url)
            shoot(page, name)
        finally:
            b.close()
