"""The desk's services over HTTP, as the signed-in citizen (real provider) and as a stranger: book from a service
page, see and cancel it in the area personale; a segnalazione with a photo and a map point; an istanza over two
sessions from a draft, then an integration request answered; ratings stored; other people's records answer 404;
the Designers Italia markers and texts are on the pages."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select

from tests.conftest import DB
from tests.sportello.conftest import Desk, sign_in

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n%test\n"


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]{40})"', html).group(1)  # type: ignore[union-attr]


def book(
    c: httpx.Client, desk: Desk, fiscal_code: str = "RSSMRA80A01H501U", email: str = "mario.rossi@example.org"
) -> int:
    page = c.get(desk.url + "/sportello/servizi/carta-identita")
    assert page.status_code == 200 and 'data-element="service-booking-access"' in page.text
    step1 = c.get(desk.url + "/sportello/prenota?servizio=carta-identita&da=scheda")
    assert 'data-element="appointment-booking"' in step1.text and "selected>Carta d&#39;identità" in step1.text
    # the reason is posted, kept server-side, and never appears in a URL of the later steps
    reason = "rinnovo carta scaduta di Mario"
    times = c.post(
        desk.url + "/sportello/prenota",
        data={"csrf": csrf_of(step1.text), "servizio": "carta-identita", "da": "scheda", "motivo": reason},
        follow_redirects=True,
    )
    assert times.status_code == 200 and "/prenota/orari?bozza=" in str(times.url)
    assert not any("rinnovo" in str(r.url) for r in [*times.history, times])
    token = re.search(r"bozza=([^&]+)", str(times.url)).group(1)  # type: ignore[union-attr]
    with httpx.Client(timeout=30) as stranger:  # the link alone shows nothing to another browser
        r = stranger.get(str(times.url))
        assert r.status_code == 303 and r.headers["location"] == "/sportello/prenota?errore=scaduta"
    # the days first, then the chosen day's times: a slot days away, well before the cancellation deadline
    last_day = re.findall(r'href="(/sportello/prenota/orari\?[^"]*giorno=[^"]+)"', times.text)[-1].replace("&amp;", "&")
    day_page = c.get(desk.url + last_day)
    assert 'aria-current="date"' in day_page.text
    start = re.findall(r'name="inizio" id="[^"]+" value="([^"]+)"', day_page.text)[-1]
    assert start[:10] == last_day.rsplit("giorno=", 1)[1][:10]
    data = c.get(desk.url + "/sportello/prenota/dati", params={"bozza": token, "inizio": start})
    assert fiscal_code in data.text and f'value="{email}"' in data.text  # once only
    assert "rinnovo" not in " ".join(re.findall(r'href="([^"]*)"', data.text))
    form = {"csrf": csrf_of(data.text), "bozza": token, "inizio": start, "email": email, "phone": "+393331234567"}
    summary = c.post(desk.url + "/sportello/prenota/riepilogo", data=form)
    assert summary.status_code == 200 and "Riepilogo" in summary.text and reason in summary.text
    key = re.search(r'name="key" value="([^"]+)"', summary.text).group(1)  # type: ignore[union-attr]
    done = c.post(desk.url + "/sportello/prenota/conferma", data={**form, "key": key}, follow_redirects=True)
    assert done.status_code == 200 and "Prenotazione confermata" in done.text
    ics = c.get(
        desk.url
        + re.search(r'href="(/sportello/prenota/ics/[^"]+)"', done.text)
        .group(1)  # type: ignore[union-attr]
        .replace("&amp;", "&")
    )
    assert ics.text.startswith("BEGIN:VCALENDAR") and "LOCATION:Municipio\\, Piazza Grande 1" in ics.text
    booking_id = int(re.search(r"/prenota/fatto/(\d+)", str(done.url)).group(1))  # type: ignore[union-attr]
    # one .ics builder: the API hands out the very same file
    api = c.get(desk.url + f"/api/v1/bookings/{booking_id}.ics", headers=desk.ente.headers("operator"))
    assert api.status_code == 200 and api.content == ics.content
    return booking_id


def test_book_see_and_cancel_and_nobody_else_sees_it(desk: Desk, db: DB) -> None:
    with httpx.Client(timeout=30) as c, httpx.Client(timeout=30) as other:
        sign_in(c, desk, "mario.rossi")
        booking_id = book(c, desk)
        area = c.get(desk.url + "/sportello/area-personale")
        assert f"/sportello/area-personale/prenotazioni/{booking_id}" in area.text
        sign_in(other, desk, "luca.bianchi")
        # another citizen tries the id, the .ics and the cancel form: all 404, and nothing changes
        assert other.get(desk.url + f"/sportello/area-personale/prenotazioni/{booking_id}").status_code == 404
        assert other.get(desk.url + f"/sportello/prenota/ics/{booking_id}").status_code == 404
        token = csrf_of(other.get(desk.url + "/sportello/area-personale").text)
        r = other.post(desk.url + f"/sportello/area-personale/prenotazioni/{booking_id}/annulla", data={"csrf": token})
        assert r.status_code == 404 and "non appartiene" in r.text
        detail = c.get(desk.url + f"/sportello/area-personale/prenotazioni/{booking_id}")
        r = c.post(
            desk.url + f"/sportello/area-personale/prenotazioni/{booking_id}/annulla",
            data={"csrf": csrf_of(detail.text)},
            follow_redirects=True,
        )
        assert "Appuntamento annullato" in r.text

    async def check(s: Any) -> tuple[str, str]:
        from crm.bookings.models import Booking

        b = await s.get(Booking, booking_id)
        return b.status, b.booked_by_kind

    assert db.run(check) == ("cancelled", "citizen")


def test_segnalazione_with_photo_and_map_point(desk: Desk, db: DB) -> None:
    with httpx.Client(timeout=30) as c:
        page = c.get(desk.url + "/sportello/segnala")
        assert 'data-element="report-inefficiency"' in page.text and 'id="sp-map"' in page.text
        # without the map (no point) and as a stranger: the form alone is enough
        r = c.post(
            desk.url + "/sportello/segnala",
            data={
                "csrf": csrf_of(page.text),
                "category": "illuminazione",
                "address": "Via Roma 3",
                "subject": "Lampione spento",
                "description": "Da tre sere il lampione è spento.",
                "latitude": "42.41",
                "longitude": "12.1",
                "first_name": "Anna",
                "last_name": "Neri",
                "email": "anna@example.org",
                "privacy": "1",
            },
            files=[("files", ("foto.png", PNG, "image/png"))],
            follow_redirects=True,
        )
        assert r.status_code == 200 and "Segnalazione inviata" in r.text and "42.41000" in r.text
        bad = c.post(desk.url + "/sportello/segnala", data={"csrf": csrf_of(page.text), "category": "x"})
        assert bad.status_code == 422 and "Indichi il luogo" in bad.text

    async def check(s: Any) -> tuple[Any, ...]:
        from crm.sportello.models import ReportFile, ReportPlace
        from crm.tickets.models import Ticket

        place = (await s.scalars(select(ReportPlace).where(ReportPlace.ente_id == desk.ente.ente_id))).all()[-1]
        t = await s.get(Ticket, place.ticket_id)
        files = (await s.scalars(select(ReportFile).where(ReportFile.ticket_id == t.id))).all()
        return t, place, files

    t, place, files = db.run(check)
    assert t.kind == "report" and t.created_by_kind == "citizen" and place.latitude == 42.41
    assert [f.content_type for f in files] == ["image/png"]


def test_istanza_over_two_sessions_then_integration(desk: Desk, db: DB) -> None:
    with httpx.Client(timeout=30) as first:
        sign_in(first, desk, "giuseppina.verdi")
        p1 = first.get(desk.url + "/sportello/istanze/istanza-generica", follow_redirects=True)
        r = first.post(
            str(p1.url), data={"csrf": csrf_of(p1.text), "privacy": "1", "azione": "avanti"}, follow_redirects=True
        )
        assert "/passo/2" in str(r.url)
        r = first.post(
            str(r.url),
            data={"csrf": csrf_of(r.text), "subject": "Richiesta copia", "azione": "salva"},
            follow_redirects=True,
        )
        assert "Bozza salvata" in r.text
    with httpx.Client(timeout=30) as second:  # another day, another device: the draft is there
        sign_in(second, desk, "giuseppina.verdi")
        area = second.get(desk.url + "/sportello/area-personale")
        assert "Bozza" in area.text
        r = second.get(desk.url + "/sportello/istanze/istanza-generica", follow_redirects=True)
        assert "/passo/2" in str(r.url) and 'value="Richiesta copia"' in r.text
        back = second.post(
            str(r.url),
            data={"csrf": csrf_of(r.text), "subject": "Richiesta copia", "azione": "indietro"},
            follow_redirects=True,
        )
        assert "/passo/1" in str(back.url)
        r = second.get(desk.url + "/sportello/istanze/istanza-generica/passo/2")
        missing = second.post(
            str(r.url), data={"csrf": csrf_of(r.text), "subject": "Richiesta copia", "azione": "avanti"}
        )
        assert missing.status_code == 422 and "Campo obbligatorio" in missing.text
        r = second.post(
            str(r.url),
            data={
                "csrf": csrf_of(r.text),
                "subject": "Richiesta copia",
                "description": "Copia del certificato",
                "azione": "avanti",
            },
            follow_redirects=True,
        )
        r = second.post(
            str(r.url),
            data={"csrf": csrf_of(r.text), "kind": "documento", "azione": "avanti"},
            files=[("file", ("delega.pdf", PDF, "application/pdf"))],
            follow_redirects=True,
        )
        assert "Riepilogo" in r.text and "delega.pdf" in r.text
        sent = second.post(
            desk.url + "/sportello/istanze/istanza-generica/invia",
            data={"csrf": csrf_of(r.text)},
            follow_redirects=True,
        )
        assert "Istanza inviata" in sent.text and "Numero di protocollo" in sent.text
        inst_id = int(re.search(r"/istanze/(\d+)", str(sent.url)).group(1))  # type: ignore[union-attr]
        pdf = second.get(desk.url + f"/sportello/area-personale/istanze/{inst_id}/ricevuta.pdf")
        assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
        # the office takes it in charge and asks for an integration (an operator, through the API)
        api = httpx.Client(base_url=desk.url, headers=desk.ente.headers("admin"), timeout=30)
        for to, note in (("in_charge", ""), ("integration_requested", "Alleghi la delega firmata.")):
            assert api.post(f"/api/v1/instances/{inst_id}/transition", json={"to": to, "note": note}).status_code == 200
        page = second.get(desk.url + f"/sportello/area-personale/istanze/{inst_id}")
        assert "Alleghi la delega firmata." in page.text and "sospeso" in page.text
        r = second.post(
            desk.url + f"/sportello/area-personale/istanze/{inst_id}/integrazione",
            data={"csrf": csrf_of(page.text), "note": "Ecco la delega."},
            files=[("file", ("delega-firmata.pdf", PDF, "application/pdf"))],
            follow_redirects=True,
        )
        assert "Integrazione inviata" in r.text
        assert api.get(f"/api/v1/instances/{inst_id}").json()["status"] == "integrated"


def test_ratings_and_markers(desk: Desk, db: DB) -> None:
    with httpx.Client(timeout=30) as c:
        home = c.get(desk.url + "/sportello/")
        for marker in (
            'data-element="feedback"',
            'data-element="feedback-title"',
            'data-element="feedback-rate-1"',
            'data-element="feedback-rate-5"',
            'data-element="feedback-rating-positive"',
            'data-element="feedback-rating-negative"',
            'data-element="feedback-rating-question"',
            'data-element="feedback-rating-answer"',
            'data-element="feedback-input-text"',
            'data-element="appointment-booking"',
            'data-element="report-inefficiency"',
            'data-element="personal-area-login"',
            'data-element="privacy-policy-link"',
            'data-element="accessibility-link"',
            'data-element="legal-notes"',
        ):
            assert marker in home.text, marker
        for text in (
            "Quanto sono chiare le informazioni su questa pagina?",
            "Quali sono stati gli aspetti che hai preferito?",
            "Dove hai incontrato le maggiori difficoltà?",
            "Capivo sempre che stavo procedendo correttamente",
            "Ho avuto problemi tecnici",
            "A volte le indicazioni non erano complete",
            "Vuoi aggiungere altri dettagli?",
        ):
            assert text in home.text, text
        r = c.post(
            desk.url + "/sportello/valutazione",
            data={
                "csrf": csrf_of(home.text),
                "stars": "2",
                "negative": "non-chiare",
                "page": "/sportello/",
                "comment": "poco chiaro",
            },
            headers={"accept": "application/json"},
        )
        assert r.json() == {"ok": True}
        assert (
            c.post(desk.url + "/sportello/valutazione", data={"csrf": csrf_of(home.text), "stars": "9"}).status_code
            == 422
        )

    async def check(s: Any) -> Any:
        from crm.sportello import service

        return await service.rating_summary(s, ente_id=desk.ente.ente_id)

    summary = db.run(check)
    pages = next(x for x in summary if x.service == "")
    assert pages.count >= 1 and pages.distribution[2] >= 1
    assert ("A volte le indicazioni non erano chiare", 1) in pages.reasons


def test_ratings_on_the_console_dashboard(desk: Desk) -> None:
    """What citizens rate reaches the operators' dashboard: the mean per service and per page, the 1-5 spread, the
    follow-up answers counted; both tables as CSV."""
    import csv
    import io

    from tests.console.test_console import login

    with httpx.Client(timeout=30) as c:
        token = csrf_of(c.get(desk.url + "/sportello/segnala").text)
        for stars, answer in ((5, ("positive", "chiare")), (4, ("positive", "chiare")), (1, ("negative", "tecnici"))):
            r = c.post(
                desk.url + "/sportello/valutazione",
                data={
                    "csrf": token,
                    "stars": str(stars),
                    answer[0]: answer[1],
                    "page": "/sportello/segnala/fatto/1",
                    "service": "report-inefficiency",
                },
                headers={"accept": "application/json"},
            )
            assert r.status_code == 200
        for stars in (3, 5):  # an informative page, no follow-up answer
            c.post(
                desk.url + "/sportello/valutazione",
                data={"csrf": token, "stars": str(stars), "page": "/sportello/servizi/carta-identita"},
                headers={"accept": "application/json"},
            )
    console = login(desk.server, desk.ente, "operator")
    page = console.get("/console/dashboard")
    assert page.status_code == 200 and "Valutazioni dei cittadini sullo sportello digitale" in page.text
    assert "Segnala disservizio: 3,33 su 5 (3)" in page.text

    def table(metric: str) -> list[list[str]]:
        r = console.get("/console/dashboard.csv", params={"metric": metric})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        return list(csv.reader(io.StringIO(r.text)))

    ratings = table("ratings")
    assert ratings[0][:3] == ["Servizio o pagina", "Valutazioni", "Media (stelle, da 1 a 5)"]
    assert ["Segnala disservizio", "3", "3.33", "1", "0", "0", "1", "1"] in ratings
    assert ["Pagina /sportello/servizi/carta-identita", "2", "4.0", "0", "0", "1", "0", "1"] in ratings
    answers = table("rating_answers")
    assert ["Segnala disservizio", "Aspetti preferiti", "Le indicazioni erano chiare", "2"] in answers
    assert ["Segnala disservizio", "Difficoltà incontrate", "Ho avuto problemi tecnici", "1"] in answers


def _booking_state(db: DB, *ids: int) -> list[tuple[str, int | None]]:
    async def check(s: Any) -> list[tuple[str, int | None]]:
        from crm.bookings.models import Booking

        return [((b := await s.get(Booking, i)).status, b.rescheduled_from_id) for i in ids]

    return db.run(check)


def test_reschedule_within_the_rules_and_refused_outside_them(desk: Desk, db: DB) -> None:
    """Area personale: a booking is moved to a free time before the service's deadline (the old one cancelled, the
    new one linked to it); a time the service does not offer is refused and the booking stays as it was; after the
    deadline neither moving nor cancelling is possible; another person's booking cannot be moved."""
    api = httpx.Client(base_url=desk.url, headers=desk.ente.headers("admin"), timeout=30)
    with httpx.Client(timeout=30) as c, httpx.Client(timeout=30) as other:
        sign_in(c, desk, "giuseppina.verdi")
        first = book(c, desk, "VRDGPP75C41F205I", "giuseppina.verdi@example.org")
        detail = c.get(desk.url + f"/sportello/area-personale/prenotazioni/{first}")
        assert "Sposta a un altro orario" in detail.text
        free = re.findall(r'name="inizio" id="m\d+" value="([^"]+)"', detail.text)
        assert free, "the detail page offers free times"
        # a time the service does not offer (03:00): refused, and the booking is untouched
        night = free[0][:11] + "03:00:00" + free[0][19:]
        r = c.post(
            desk.url + f"/sportello/area-personale/prenotazioni/{first}/sposta",
            data={"csrf": csrf_of(detail.text), "inizio": night},
            follow_redirects=True,
        )
        assert "non è prenotabile per questo servizio" in r.text
        assert _booking_state(db, first) == [("confirmed", None)]
        # someone else cannot move it
        sign_in(other, desk, "luca.bianchi")
        token = csrf_of(other.get(desk.url + "/sportello/area-personale").text)
        r = other.post(
            desk.url + f"/sportello/area-personale/prenotazioni/{first}/sposta", data={"csrf": token, "inizio": free[0]}
        )
        assert r.status_code == 404 and _booking_state(db, first) == [("confirmed", None)]
        # within the rules: moved
        r = c.post(
            desk.url + f"/sportello/area-personale/prenotazioni/{first}/sposta",
            data={"csrf": csrf_of(detail.text), "inizio": free[0]},
            follow_redirects=True,
        )
        assert "Appuntamento spostato" in r.text
        moved = int(re.search(r"/prenotazioni/(\d+)\?spostata=1", str(r.url)).group(1))  # type: ignore[union-attr]
        assert _booking_state(db, first, moved) == [("cancelled", None), ("confirmed", first)]
        assert (
            api.get(f"/api/v1/bookings/{moved}").json()["start"][:16]
            == datetime.fromisoformat(free[0]).astimezone(ZoneInfo("Europe/Rome")).isoformat()[:16]
        )
        # the service's rule changes to "no changes in the last 30 days": the deadline has passed for every booking
        svc_id = api.get(f"/api/v1/bookings/{moved}").json()["service_id"]
        assert api.patch(f"/api/v1/services/{svc_id}", json={"cancel_deadline_hours": 24 * 30}).status_code == 200
        try:
            page = c.get(desk.url + f"/sportello/area-personale/prenotazioni/{moved}")
            assert "Il termine per annullare o spostare online è passato" in page.text
            assert "Sposta a un altro orario" not in page.text and "Annulla l&#39;appuntamento" not in page.text
            for action, data in (("sposta", {"inizio": free[-1]}), ("annulla", {})):
                r = c.post(
                    desk.url + f"/sportello/area-personale/prenotazioni/{moved}/{action}",
                    data={"csrf": csrf_of(page.text), **data},
                    follow_redirects=True,
                )
                assert "il termine per annullare o spostare è passato" in r.text, action
            assert _booking_state(db, moved) == [("confirmed", first)]
        finally:
            api.patch(f"/api/v1/services/{svc_id}", json={"cancel_deadline_hours": 2})


def test_contacts_merge_only_with_consent(desk: Desk, db: DB) -> None:
    """A contact that chats or SMS created with the citizen's phone or e-mail is offered for merging; what it holds
    shows in the area personale only after "Sì"; after "No" it stays apart and is not offered again; nobody else
    can merge it."""
    from crm.contacts.schemas import ContactIn

    async def seed(s: Any) -> tuple[int, int]:
        from crm.contacts import service as contacts
        from crm.conversations import service as conversations
        from crm.core.auth import Principal
        from crm.tickets import service as tickets
        from crm.tickets.schemas import TicketIn

        op = Principal(
            ente_id=desk.ente.ente_id, role="operator", operator_id=desk.ente.operator_ids["operator"], username="op"
        )
        by_sms = await contacts.create(s, ente_id=desk.ente.ente_id, data=ContactIn(phones=["+393331234567"]))
        await conversations.record_inbound(
            s,
            ente_id=desk.ente.ente_id,
            contact_id=by_sms.id,
            channel="sms",
            text="C'è una buca enorme in via Roma",
            channel_message_id=f"SM-merge-{by_sms.id}",
        )
        await tickets.create(
            s,
            principal=op,
            data=TicketIn(
                contact_id=by_sms.id, kind="report", channel="sms", subject="Buca in via Roma", description="buca"
            ),
        )
        by_mail = await contacts.create(
            s, ente_id=desk.ente.ente_id, data=ContactIn(emails=["mario.rossi@example.org"])
        )
        await tickets.create(
            s,
            principal=op,
            data=TicketIn(
                contact_id=by_mail.id,
                kind="other",
                channel="email",
                subject="Orari della biblioteca",
                description="orari",
            ),
        )
        return by_sms.id, by_mail.id

    by_sms, by_mail = db.run(seed)
    with httpx.Client(timeout=30) as c, httpx.Client(timeout=30) as other:
        sign_in(c, desk, "mario.rossi")
        area = c.get(desk.url + "/sportello/area-personale")
        assert "Abbiamo trovato altri contatti con i suoi recapiti" in area.text
        assert f'name="source_id" value="{by_sms}"' in area.text and f'name="source_id" value="{by_mail}"' in area.text
        assert "Buca in via Roma" not in area.text and "Orari della biblioteca" not in area.text
        # another citizen cannot take them
        sign_in(other, desk, "luca.bianchi")
        r = other.post(
            desk.url + "/sportello/area-personale/unisci",
            data={
                "csrf": csrf_of(other.get(desk.url + "/sportello/area-personale").text),
                "source_id": str(by_sms),
                "scelta": "si",
            },
        )
        assert r.status_code == 404
        # "No" for the e-mail one: it stays apart and is not offered again
        r = c.post(
            desk.url + "/sportello/area-personale/unisci",
            data={"csrf": csrf_of(area.text), "source_id": str(by_mail), "scelta": "no"},
            follow_redirects=True,
        )
        assert "resta separato" in r.text and f'name="source_id" value="{by_mail}"' not in r.text
        assert "Orari della biblioteca" not in r.text and "Buca in via Roma" not in r.text
        # "Sì" for the SMS one: its request and conversation are now the citizen's
        r = c.post(
            desk.url + "/sportello/area-personale/unisci",
            data={"csrf": csrf_of(area.text), "source_id": str(by_sms), "scelta": "si"},
            follow_redirects=True,
        )
        assert "sono ora nel suo profilo" in r.text and "Buca in via Roma" in r.text and "SMS" in r.text
        assert "Abbiamo trovato altri contatti" not in r.text and "Orari della biblioteca" not in r.text
        conv_link = re.search(r'href="(/sportello/area-personale/conversazioni/\d+)"', r.text).group(1)  # type: ignore[union-attr]
        assert "buca enorme in via Roma" in c.get(desk.url + conv_link).text

    async def check(s: Any) -> tuple[Any, ...]:
        from crm.audit.models import AuditEntry
        from crm.contacts.models import Contact

        mario = await s.scalar(
            select(Contact).where(Contact.ente_id == desk.ente.ente_id, Contact.fiscal_code == "RSSMRA80A01H501U")
        )
        sms, mail = await s.get(Contact, by_sms), await s.get(Contact, by_mail)
        actions = (
            await s.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.ente_id == desk.ente.ente_id,
                    AuditEntry.entity == "contact",
                    AuditEntry.entity_id == mario.id,
                    AuditEntry.action.in_(("merge", "merge_refused")),
                )
            )
        ).all()
        return mario.id, sms.merged_into_id, mail.merged_into_id, sorted(actions)

    mario_id, sms_into, mail_into, actions = db.run(check)
    assert sms_into == mario_id and mail_into is None and actions == ["merge", "merge_refused"]
