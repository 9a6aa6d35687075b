"""The rest of the desk's journeys in Debian's Chromium (Playwright), on a phone and on a laptop, axe-core on every
screen: a segnalazione with a photo and a point on the map; an istanza filled over two sessions (two browsers) from
a saved draft, sent, then an integration request answered; a booking made in the browser whose confirmation reaches
the citizen's App IO (the fake IO server, validating the public contract) through the outbox and the scheduler.

SP_SCREENSHOTS=<dir> also keeps a screenshot of every screen at 1366x768, 768x1024 and 390x844."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.appio.fake_io import FakeIO
from tests.browser import browser, browser_pages, require_axe  # noqa: F401 - browser is a fixture
from tests.conftest import DB
from tests.sportello.conftest import Desk, mario_and_operator
from tests.sportello.test_desk_browser import SIZES, check_axe, shoot

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c63f8cf"
    "c0f01f0005000201a5f1c8e10000000049454e44ae426082"
)  # a real 1x1 PNG
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
IO_KEY = "chiave-io-di-prova"
LUCA, GIUSEPPINA = "BNCLCU90E15L219G", "VRDGPP75C41F205I"


@pytest.fixture(scope="module")
def fake_io() -> Iterator[FakeIO]:
    with FakeIO(IO_KEY, {LUCA: True, GIUSEPPINA: True}) as io:
        yield io


@pytest.fixture(scope="module")
def desk_env(fake_io: FakeIO) -> dict[str, str]:
    """This module's desk sends its outbox: the scheduler runs for its ente only, and App IO is on."""
    return {
        "URP_SCHEDULER": "true",
        "URP_SCHEDULER_ENTES": "{ente}",
        "URP_SCHEDULER_INTERVAL_SECONDS": "0.5",
        "URP_APP_IO_URL": fake_io.url,
        "URP_APP_IO_KEYS": "{ente}=" + IO_KEY,
    }


def sign_in(page: Any, desk: Desk, who: str, next_path: str) -> None:
    """Through the real provider's page, as a person: choose the citizen, authorise, come back to ``next_path``."""
    page.goto(desk.url + f"/sportello/accesso?next={next_path}")
    page.get_by_role("link", name="Entra con SPID (prova)").click()
    page.get_by_label(who).check()
    page.get_by_role("button", name="Autorizza e entra").click()
    page.wait_for_url(re.compile(re.escape(desk.url + next_path)))


def tick(page: Any, box_id: str) -> None:
    """Tick a Bootstrap Italia checkbox as a person does: on the box its label draws (the label may hold a link)."""
    from playwright.sync_api import expect

    page.locator(f"label[for={box_id}]").click(position={"x": 8, "y": 12})
    expect(page.locator(f"#{box_id}")).to_be_checked()


def no_errors(page: Any) -> None:
    assert [e for e in page.errors if not e.startswith("console.error: Failed to load resource")] == []


@pytest.mark.parametrize("device", ["phone", "laptop"])
def test_segnalazione_with_a_photo_and_a_map_point(
    browser: Any,
    desk: Desk,
    db: DB,  # noqa: F811
    request: pytest.FixtureRequest,
    tmp_path: Path,
    device: str,
) -> None:
    from playwright.sync_api import expect

    require_axe()
    w, h = SIZES[device]
    with browser_pages(browser, request, tmp_path, viewport={"width": w, "height": h}, bypass_csp=True) as make:
        page = make()
        page.goto(desk.url + "/sportello/segnala")
        page.wait_for_function("document.querySelector('#sp-map.leaflet-container') !== null")
        check_axe(page, "report")
        page.get_by_label("Categoria").select_option(label="Illuminazione pubblica")
        page.get_by_label("Luogo").fill("Via Roma 3, davanti alla farmacia")
        # the point: a click on the map moves the marker and fills the coordinates
        page.locator("#sp-map").click(position={"x": 60, "y": 50})
        expect(page.locator("#sp-map-note")).to_contain_text("Punto indicato sulla mappa:")
        lat, lon = page.input_value("#latitude"), page.input_value("#longitude")
        assert re.fullmatch(r"-?\d+\.\d{6}", lat) and re.fullmatch(r"-?\d+\.\d{6}", lon)
        expect(page.locator(".leaflet-marker-icon")).to_have_count(1)
        # the pin is drawn: its image loads after the marker is placed (on a busy machine, well after)
        page.wait_for_function("document.querySelector('.leaflet-marker-icon').naturalWidth > 0", timeout=15_000)
        page.get_by_label("Oggetto").fill(f"Lampione spento ({device})")
        page.get_by_label("Descrizione").fill("Da tre sere il lampione davanti alla farmacia è spento.")
        page.set_input_files("#files", files=[{"name": "lampione.png", "mimeType": "image/png", "buffer": PNG}])
        page.get_by_label("Nome", exact=True).fill("Anna")
        page.get_by_label("Cognome").fill("Neri")
        page.get_by_label("E-mail", exact=True).fill("anna.neri@example.org")
        tick(page, "privacy")
        check_axe(page, "report-filled")
        shoot(page, "report")
        page.get_by_role("button", name="Invia la segnalazione").click()
        expect(page.get_by_role("heading", name="Segnalazione inviata")).to_be_visible()
        expect(page.get_by_text(f"{float(lat):.5f}", exact=False)).to_be_visible()
        expect(page.get_by_text("lampione.png")).to_be_visible()
        check_axe(page, "report-done")
        shoot(page, "report-done")
        no_errors(page)

    async def check(s: Any) -> tuple[Any, ...]:
        from crm.sportello.models import ReportFile, ReportPlace
        from crm.tickets.models import Ticket

        t = await s.scalar(
            select(Ticket).where(Ticket.ente_id == desk.ente.ente_id, Ticket.subject == f"Lampione spento ({device})")
        )
        place = await s.scalar(select(ReportPlace).where(ReportPlace.ticket_id == t.id))
        files = (await s.scalars(select(ReportFile).where(ReportFile.ticket_id == t.id))).all()
        return t, place, files

    t, place, files = db.run(check)
    assert t.kind == "report" and place.category == "illuminazione"
    assert (place.latitude, place.longitude) == (float(lat), float(lon))
    assert [(f.filename, f.content_type, f.size) for f in files] == [("lampione.png", "image/png", len(PNG))]


@pytest.mark.parametrize("device", ["phone", "laptop"])
def test_istanza_over_two_sessions_then_an_integration(
    browser: Any,
    desk: Desk,  # noqa: F811
    request: pytest.FixtureRequest,
    tmp_path: Path,
    device: str,
) -> None:
    from playwright.sync_api import expect

    require_axe()
    w, h = SIZES[device]
    subject = f"Copia del certificato ({device})"
    with browser_pages(browser, request, tmp_path, viewport={"width": w, "height": h}, bypass_csp=True) as make:
        # first session: the privacy step, the subject typed, "save and continue later"; the browser is closed
        first = make()
        sign_in(first, desk, "Giuseppina Verdi", "/sportello/istanze")
        check_axe(first, "instances")
        shoot(first, "instances")
        first.get_by_role("link", name="Compila Istanza generica").click()
        check_axe(first, "instance-step-1")
        shoot(first, "instance-step-1")
        tick(first, "privacy")
        first.get_by_role("button", name="Avanti").click()
        first.get_by_label("Oggetto").fill(subject)
        first.get_by_role("button", name="Salva e continua dopo").click()
        expect(first.get_by_text("Bozza salvata")).to_be_visible()
        check_axe(first, "instance-step-2-saved")
        shoot(first, "instance-step-2")
        first.context.close()

        # another day, another browser: the draft is in the area personale and resumes where it was left
        second = make()
        sign_in(second, desk, "Giuseppina Verdi", "/sportello/area-personale")
        second.get_by_role("link", name="Riprendi la bozza: Istanza generica").click()
        expect(second.get_by_label("Oggetto")).to_have_value(subject)
        second.get_by_label("Descrizione").fill("Chiedo una copia conforme del certificato di residenza.")
        second.get_by_role("button", name="Avanti").click()
        check_axe(second, "instance-step-3")
        second.set_input_files("#file", files=[{"name": "delega.pdf", "mimeType": "application/pdf", "buffer": PDF}])
        shoot(second, "instance-step-3")
        second.get_by_role("button", name="Avanti").click()
        expect(second.get_by_role("heading", name="Riepilogo")).to_be_visible()
        expect(second.get_by_text("delega.pdf")).to_be_visible()
        expect(second.get_by_text(subject)).to_be_visible()
        check_axe(second, "instance-summary")
        shoot(second, "instance-summary")
        second.get_by_role("button", name="Invia l'istanza").click()
        expect(second.get_by_text("Istanza inviata.")).to_be_visible()
        check_axe(second, "instance-sent")
        shoot(second, "area-instance")
        inst_id = int(re.search(r"/istanze/(\d+)", second.url).group(1))  # type: ignore[union-attr]

        # the office takes it in charge and asks for more (an operator, through the API)
        with httpx.Client(base_url=desk.url, headers=desk.ente.headers("admin"), timeout=30) as api:
            for to, note in (("in_charge", ""), ("integration_requested", "Alleghi la delega firmata.")):
                r = api.post(f"/api/v1/instances/{inst_id}/transition", json={"to": to, "note": note})
                assert r.status_code == 200, r.text
            second.reload()
            expect(second.get_by_role("heading", name="L'ufficio le chiede un'integrazione")).to_be_visible()
            expect(second.get_by_text("Alleghi la delega firmata.").first).to_be_visible()
            check_axe(second, "instance-integration")
            shoot(second, "area-instance-integration")
            second.get_by_label("Risposta").fill("Ecco la delega firmata.")
            second.set_input_files(
                "#file", files=[{"name": "delega-firmata.pdf", "mimeType": "application/pdf", "buffer": PDF}]
            )
            second.get_by_role("button", name="Invia l'integrazione").click()
            expect(second.get_by_text("Integrazione inviata all'ufficio.")).to_be_visible()
            expect(second.get_by_text("delega-firmata.pdf")).to_be_visible()
            assert api.get(f"/api/v1/instances/{inst_id}").json()["status"] == "integrated"
        no_errors(second)


def test_a_booking_in_the_browser_reaches_app_io(
    browser: Any,
    desk: Desk,
    fake_io: FakeIO,  # noqa: F811
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    """Booked on a phone: the confirmation goes through the outbox to the citizen's IO app (getProfile, then the
    message, both held to the contract by the fake), with the appointment as due_date and no personal data in the
    subject; the area personale lists it among the messages received."""
    from playwright.sync_api import expect

    w, h = SIZES["phone"]
    with browser_pages(browser, request, tmp_path, viewport={"width": w, "height": h}, bypass_csp=True) as make:
        page = make()
        sign_in(page, desk, "Luca Bianchi", "/sportello/servizi/carta-identita")
        page.locator("[data-element=service-booking-access]").click()
        page.get_by_label("Motivo dell'appuntamento").fill("Rinnovo della carta scaduta")
        page.get_by_role("button", name="Avanti").click()
        assert "Rinnovo" not in page.url  # the reason travels by POST only
        page.locator(".sp-slot label").first.click()
        page.get_by_role("button", name="Avanti").click()
        page.get_by_label("E-mail", exact=True).fill("luca.bianchi@example.org")
        page.get_by_role("button", name="Avanti").click()
        page.get_by_role("button", name="Conferma la prenotazione").click()
        code = page.locator("[data-sp-code]").inner_text().strip()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(code in m["content"]["subject"] for m in fake_io.messages):
            time.sleep(0.5)
        mine = [m for m in fake_io.messages if code in m["content"]["subject"]]
        assert len(mine) == 1, (fake_io.messages, fake_io.rejected)
        assert fake_io.rejected == [] and LUCA in fake_io.profile_calls
        msg = mine[0]
        assert msg["fiscal_code"] == LUCA and msg["content"]["subject"] == f"Appuntamento {code}"
        assert "Bianchi" not in msg["content"]["subject"] and code in msg["content"]["markdown"]
        assert msg["content"]["due_date"].endswith("Z")
        # the outbox marks the message sent just after IO answered: the area personale lists it from then on
        listed = page.locator("#messaggi + ul").get_by_text("via app IO")
        for _ in range(30):
            page.goto(desk.url + "/sportello/area-personale")
            if listed.count():
                break
            time.sleep(0.5)
        expect(listed.first).to_be_visible()
        check_axe(page, "area-with-io")
        no_errors(page)


def seed_request_and_chat(db: DB, desk: Desk, label: str) -> None:
    """Mario Rossi (signed in with SPID) with a request and a web chat, both tagged with ``label``: the area
    personale lists them."""

    async def seed(s: Any) -> None:
        from crm.conversations import service as conversations
        from crm.tickets import service as tickets
        from crm.tickets.schemas import TicketIn

        c, op = await mario_and_operator(s, desk)
        await tickets.create(
            s,
            principal=op,
            data=TicketIn(
                contact_id=c.id,
                kind="information",
                channel="phone",
                subject=f"Orari dell'anagrafe ({label})",
                description="Il cittadino chiede gli orari di apertura dell'anagrafe il sabato.",
            ),
        )
        await conversations.record_inbound(
            s,
            ente_id=desk.ente.ente_id,
            contact_id=c.id,
            channel="web",
            text=f"Buongiorno, a che ora apre l'anagrafe? ({label})",
            channel_message_id=f"web-{label}-{c.id}",
        )

    db.run(seed)


@pytest.mark.parametrize("device", ["phone", "laptop"])
def test_the_other_pages_are_clean(
    browser: Any,
    desk: Desk,
    db: DB,  # noqa: F811
    request: pytest.FixtureRequest,
    tmp_path: Path,
    device: str,
) -> None:
    """The pages no journey above passes through: a request and a conversation in the area personale, the legal
    pages, the "not found" page; axe on each, and a screenshot with SP_SCREENSHOTS."""
    from playwright.sync_api import expect

    require_axe()

    seed_request_and_chat(db, desk, device)
    w, h = SIZES[device]
    with browser_pages(browser, request, tmp_path, viewport={"width": w, "height": h}, bypass_csp=True) as make:
        page = make()
        sign_in(page, desk, "Mario Rossi", "/sportello/area-personale")
        page.get_by_role("link", name=f"Orari dell'anagrafe ({device})").click()
        expect(page.get_by_role("heading", name=f"Orari dell'anagrafe ({device})")).to_be_visible()
        check_axe(page, "area-ticket")
        shoot(page, "area-ticket")
        page.go_back()
        page.locator("#conversazioni + ul a").first.click()
        expect(page.get_by_text(f"a che ora apre l'anagrafe? ({device})")).to_be_visible()
        check_axe(page, "area-conversation")
        shoot(page, "area-conversation")
        for path, title, name in (
            ("/sportello/privacy", "Informativa sul trattamento dei dati personali", "privacy"),
            ("/sportello/note-legali", "Note legali", "legal"),
            ("/sportello/accessibilita", "Dichiarazione di accessibilità", "accessibility"),
        ):
            page.goto(desk.url + path)
            expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
            check_axe(page, name)
            shoot(page, name)
        r = page.goto(desk.url + "/sportello/servizi/non-esiste")
        assert r is not None and r.status == 404
        expect(page.get_by_role("heading", name="Pagina non trovata")).to_be_visible()
        check_axe(page, "not-found")
        shoot(page, "not-found")
