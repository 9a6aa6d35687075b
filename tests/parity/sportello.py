"""Parity scenarios of the sportello digitale: every form a citizen (signed in with SPID/CIE) or a visitor posts
that changes something, each through a domain's command, so each leaves its audit line and its live event.

The desk serves the installation's default ente: the parity test's server names the harness's ente so."""

from __future__ import annotations

import secrets
from typing import Any

from tests.parity.bookings import free_slots
from tests.parity.harness import Harness, Perform, scenario
from tests.parity.instances import PDF

CITIZEN_PHONE = "+393471234567"  # the signed-in citizen's, from their identity (tests/parity/harness.py)


# --- set-ups through the services (no audit line, no event) ----------------------------------------------------------
def desk_service(h: Harness) -> dict[str, Any]:
    """A service the desk offers (it has an office), open every day, all day."""
    from crm.bookings import service as bk
    from crm.bookings.schemas import IntervalIn, LocationIn, ResourceIn, ServiceIn

    async def work(s: Any) -> dict[str, Any]:
        loc = await bk.create_location(s, ente_id=h.ente.ente_id, data=LocationIn(name="Municipio", address="Via 1"))
        res = await bk.create_resource(s, ente_id=h.ente.ente_id, data=ResourceIn(name="Sportello", location_id=loc.id))
        svc = await bk.create_service(
            s,
            ente_id=h.ente.ente_id,
            data=ServiceIn(
                slug=h.unique("desk"),
                code_prefix="SP",
                name="Servizio dello sportello",
                kind="multi_resource",
                office_id=h.ente.offices["ANAG"],
                resource_ids=[res.id],
                min_notice_hours=0,
                cancel_deadline_hours=1,
                max_active_per_citizen=10,
                max_per_day_per_citizen=10,
            ),
        )
        await bk.set_hours(
            s,
            ente_id=h.ente.ente_id,
            service_id=svc.id,
            resource_id=None,
            hours=[IntervalIn(weekday=d, start="00:00", end="23:40") for d in range(7)],
        )
        return {"id": svc.id, "slug": svc.slug, "location_id": loc.id, "resource_id": res.id}

    return h.setup(work)


def own_booking(h: Harness) -> dict[str, Any]:
    """A confirmed booking of the signed-in citizen, days ahead, and another free time of its service."""
    from crm.bookings import service as bk
    from crm.bookings.schemas import BookingIn

    svc = desk_service(h)
    slots = free_slots(h, svc)
    cid = h.desk("citizen").contact_id

    async def work(s: Any) -> int:
        b, _ = await bk.book(
            s,
            principal=h.principal("admin"),
            idempotency_key=None,
            data=BookingIn(
                service_id=svc["id"], start=slots[0].start, contact_id=cid, location_id=slots[0].location_id
            ),
        )
        return b.id

    return {"id": h.setup(work), "other_start": slots[-1].start}


def booking_draft(h: Harness, role: str) -> tuple[str, Any]:
    """A booking in progress of this browser (the desk's first step), and a free time."""
    from crm.sportello import service as sp

    svc = desk_service(h)
    browser = h.desk(role).browser

    async def work(s: Any) -> str:
        return await sp.save_booking_draft(
            s,
            ente_id=h.ente.ente_id,
            browser=browser,
            service_slug=svc["slug"],
            reason="rinnovo della carta d'identità",
            from_page=False,
        )

    return h.setup(work), free_slots(h, svc)[0].start


def instance_type(h: Harness) -> str:
    from crm.instances import service as instances
    from crm.instances.schemas import InstanceTypeIn

    slug = h.unique("istanza")

    async def work(s: Any) -> None:
        await instances.create_type(
            s,
            ente_id=h.ente.ente_id,
            data=InstanceTypeIn(
                slug=slug,
                title="Istanza generica",
                office_id=h.ente.offices["URP"],
                topic="urp",
                form_schema={
                    "type": "object",
                    "required": ["oggetto"],
                    "properties": {"oggetto": {"type": "string", "minLength": 1, "title": "Oggetto"}},
                },
            ),
        )

    h.setup(work)
    return slug


# --- bookings --------------------------------------------------------------------------------------------------------
@scenario("POST", "/sportello/prenota/conferma", "citizen", variant="signed in")
def book_signed_in(h: Harness) -> Perform:
    token, start = booking_draft(h, "citizen")
    return h.sportello(
        "/sportello/prenota/conferma",
        "citizen",
        {"bozza": token, "inizio": start.isoformat(), "key": secrets.token_urlsafe(12)},
    )


@scenario("POST", "/sportello/prenota/conferma", "visitor", variant="visitor", audit=2)
def book_as_visitor(h: Harness) -> Perform:
    """A visitor: their contact, then their booking."""
    token, start = booking_draft(h, "visitor")
    return h.sportello(
        "/sportello/prenota/conferma",
        "visitor",
        {
            "bozza": token,
            "inizio": start.isoformat(),
            "key": secrets.token_urlsafe(12),
            "first_name": "Lucia",
            "last_name": "Visitatrice",
            "email": "lucia@example.it",
        },
    )


@scenario("POST", "/sportello/area-personale/prenotazioni/<booking_id:int>/annulla", "citizen")
def cancel_own_booking(h: Harness) -> Perform:
    b = own_booking(h)
    return h.sportello(f"/sportello/area-personale/prenotazioni/{b['id']}/annulla")


@scenario("POST", "/sportello/area-personale/prenotazioni/<booking_id:int>/sposta", "citizen")
def move_own_booking(h: Harness) -> Perform:
    b = own_booking(h)
    return h.sportello(
        f"/sportello/area-personale/prenotazioni/{b['id']}/sposta", data={"inizio": b["other_start"].isoformat()}
    )


# --- segnalazioni ----------------------------------------------------------------------------------------------------
REPORT = {
    "category": "strade",
    "address": "Via Roma 3",
    "subject": "Buca",
    "description": "Una buca profonda",
    "latitude": "41.9",
    "longitude": "12.5",
}


@scenario("POST", "/sportello/segnala", "citizen", variant="signed in")
def report_signed_in(h: Harness) -> Perform:
    return h.sportello("/sportello/segnala", "citizen", REPORT, files={"files": ("buca.pdf", PDF, "application/pdf")})


@scenario("POST", "/sportello/segnala", "visitor", variant="visitor", audit=2)
def report_as_visitor(h: Harness) -> Perform:
    """A visitor: their contact, then their segnalazione."""
    return h.sportello(
        "/sportello/segnala",
        "visitor",
        {**REPORT, "first_name": "Lucia", "last_name": "Visitatrice", "email": "lucia@example.it", "privacy": "1"},
    )


# --- istanze ---------------------------------------------------------------------------------------------------------
@scenario("POST", "/sportello/istanze/<slug:str>/passo/<step:int>", "citizen")
def save_instance_step(h: Harness) -> Perform:
    slug = instance_type(h)
    return h.sportello(f"/sportello/istanze/{slug}/passo/1", data={"privacy": "1", "azione": "avanti"})


@scenario("POST", "/sportello/istanze/<slug:str>/invia", "citizen")
def send_instance(h: Harness) -> Perform:
    from crm.sportello import service as sp

    slug = instance_type(h)
    cid = h.desk("citizen").contact_id

    async def work(s: Any) -> None:
        await sp.save_draft(
            s,
            ente_id=h.ente.ente_id,
            contact_id=cid,
            type_slug=slug,
            step=4,
            data={"privacy": True, "data": {"oggetto": "Richiesta di prova"}},
        )

    h.setup(work)
    return h.sportello(f"/sportello/istanze/{slug}/invia")


@scenario("POST", "/sportello/area-personale/istanze/<instance_id:int>/integrazione", "citizen")
def answer_integration(h: Harness) -> Perform:
    from crm.instances import service as instances
    from crm.instances.protocol import LocalRegister
    from crm.instances.schemas import InstanceIn

    slug = instance_type(h)
    cid = h.desk("citizen").contact_id

    async def work(s: Any) -> int:
        inst = await instances.submit(
            s,
            principal=h.principal("service"),
            adapter=LocalRegister(),
            data=InstanceIn(type=slug, contact_id=cid, data={"oggetto": "Permesso"}),
        )
        for to in ("in_charge", "integration_requested"):
            await instances.transition(
                s, principal=h.principal("backoffice"), instance_id=inst.id, to=to, note="manca la planimetria"
            )
        return inst.id

    inst_id = h.setup(work)
    return h.sportello(
        f"/sportello/area-personale/istanze/{inst_id}/integrazione",
        data={"note": "Eccola"},
        files={"file": ("planimetria.pdf", PDF, "application/pdf")},
    )


# --- the citizen's profile -------------------------------------------------------------------------------------------
def merge_candidate(h: Harness) -> int:
    """A contact a chat or an SMS made with the citizen's phone and no fiscal code."""
    from crm.contacts import service as contacts
    from crm.contacts.schemas import ContactIn

    h.desk("citizen")

    async def work(s: Any) -> int:
        c = await contacts.create(s, ente_id=h.ente.ente_id, data=ContactIn(first_name="Mario", phones=[CITIZEN_PHONE]))
        return c.id

    return h.setup(work)


@scenario("POST", "/sportello/area-personale/unisci", "citizen", variant="yes", audit=2)
def merge_yes(h: Harness) -> Perform:
    """Both contacts change: each has its line."""
    return h.sportello("/sportello/area-personale/unisci", data={"source_id": merge_candidate(h), "scelta": "si"})


@scenario("POST", "/sportello/area-personale/unisci", "citizen", variant="no")
def merge_no(h: Harness) -> Perform:
    return h.sportello("/sportello/area-personale/unisci", data={"source_id": merge_candidate(h), "scelta": "no"})


@scenario("POST", "/sportello/chat/collega", "citizen")
def link_chat(h: Harness) -> Perform:
    return h.sportello("/sportello/chat/collega", data={"chat_session": secrets.token_hex(16)})
