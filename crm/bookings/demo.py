"""Demo booking centre: anagrafe CIE, stato civile, tributi, servizi sociali, palestra a ore, an open day."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from crm.bookings import service
from crm.bookings.models import Event, Location, Resource, Service
from crm.bookings.schemas import EventIn, IntervalIn, LocationIn, ResourceIn, ServiceIn
from crm.offices.models import Office

MORNINGS = [(d, time(8, 30), time(12, 30)) for d in range(5)]
AFTERNOONS = [(1, time(15, 0), time(17, 0)), (3, time(15, 0), time(17, 0))]
PERSON_FORM = {
    "type": "object",
    "required": ["first_name", "last_name"],
    "properties": {
        "first_name": {"type": "string", "minLength": 1, "title": "Nome"},
        "last_name": {"type": "string", "minLength": 1, "title": "Cognome"},
        "notes": {"type": "string", "maxLength": 500, "title": "Note"},
    },
}

# social services need to know who is coming before the meeting: the fiscal code is part of the booking
SOCIAL_FORM = {
    "type": "object",
    "required": ["first_name", "last_name", "fiscal_code"],
    "properties": {
        **PERSON_FORM["properties"],
        "fiscal_code": {"type": "string", "pattern": "^[A-Z0-9]{16}$", "title": "Codice fiscale"},
        "phone": {"type": "string", "title": "Telefono"},
    },
}

SERVICES: list[dict[str, Any]] = [
    dict(
        slug="carta-identita",
        code_prefix="AN",
        name="Rilascio carta d'identità elettronica",
        office="ANAG",
        kind="multi_resource",
        slot_minutes=20,
        resources=["Sportello anagrafe 1", "Sportello anagrafe 2", "Sportello anagrafe 3"],
        loc="Municipio",
        hours=MORNINGS + AFTERNOONS,
        one_active=True,
        form=PERSON_FORM,
        bring="fototessera recente, tessera sanitaria, vecchia carta d'identità o denuncia di smarrimento; "
        "22,21 euro (pagoPA o carta)",
    ),
    dict(
        slug="stato-civile",
        code_prefix="SC",
        name="Appuntamento stato civile (pubblicazioni, cittadinanza)",
        office="ANAG",
        kind="resource",
        slot_minutes=30,
        resources=["Ufficiale di stato civile Rossi", "Ufficiale di stato civile Neri"],
        loc="Municipio",
        hours=MORNINGS,
        form=PERSON_FORM,
        bring="documenti d'identità di tutte le persone coinvolte",
    ),
    dict(
        slug="tributi",
        code_prefix="TR",
        name="Ricevimento Ufficio Tributi (TARI, IMU)",
        office="TRIB",
        kind="multi_resource",
        slot_minutes=20,
        resources=["Sportello tributi 1", "Sportello tributi 2"],
        loc="Sede di via Roma 12",
        hours=[
            (0, time(9), time(12, 30)),
            (2, time(9), time(12, 30)),
            (4, time(9), time(12, 30)),
            (3, time(15), time(17)),
        ],
        bring="codice fiscale e avvisi ricevuti",
    ),
    dict(
        slug="servizi-sociali",
        code_prefix="SS",
        name="Colloquio con l'assistente sociale",
        office="SOC",
        kind="resource",
        slot_minutes=45,
        buffer_after=15,
        resources=["Assistente sociale Bianchi", "Assistente sociale Gallo"],
        loc="Sede di via Garibaldi 4",
        hours=[(1, time(9), time(13)), (3, time(9), time(13))],
        form=SOCIAL_FORM,
        bring="ISEE aggiornato, se disponibile",
    ),
    dict(
        slug="palestra",
        code_prefix="PA",
        name="Palestra comunale a ore",
        office="SOC",
        kind="resource",
        slot_minutes=60,
        resources=["Palestra della scuola Dante"],
        loc="Scuola Dante Alighieri",
        hours=[(d, time(17), time(22)) for d in range(5)] + [(5, time(9), time(20)), (6, time(9), time(13))],
        max_per_day=2,
        max_slots=3,
        max_series=12,
        max_active=24,
        bring="scarpe da ginnastica pulite",
    ),
    dict(
        slug="open-day-nido",
        code_prefix="OD",
        name="Open day dell'asilo nido Il Girasole",
        office="SOC",
        kind="capacity",
        slot_minutes=90,
        resources=[],
        loc="Asilo nido Il Girasole",
        hours=[],
        bring="nessun documento: l'incontro è libero, su prenotazione",
    ),
]


async def seed(session: Any, ente: Any) -> list[str]:
    log = []
    tz = ente.tz
    for spec in SERVICES:
        if await session.scalar(select(Service.id).where(Service.ente_id == ente.id, Service.slug == spec["slug"])):
            continue
        loc = await session.scalar(select(Location).where(Location.ente_id == ente.id, Location.name == spec["loc"]))
        if loc is None:
            loc = await service.create_location(session, ente_id=ente.id, data=LocationIn(name=spec["loc"]))
        res_ids = []
        for name in spec["resources"]:
            res = await session.scalar(select(Resource).where(Resource.ente_id == ente.id, Resource.name == name))
            if res is None:
                res = await service.create_resource(
                    session, ente_id=ente.id, data=ResourceIn(name=name, location_id=loc.id)
                )
            res_ids.append(res.id)
        office_id = await session.scalar(
            select(Office.id).where(Office.ente_id == ente.id, Office.code == spec["office"])
        )
        svc = await service.create_service(
            session,
            ente_id=ente.id,
            data=ServiceIn(
                slug=spec["slug"],
                code_prefix=spec["code_prefix"],
                name=spec["name"],
                office_id=office_id,
                kind=spec["kind"],
                slot_minutes=spec["slot_minutes"],
                buffer_after_minutes=spec.get("buffer_after", 0),
                one_active_per_citizen=spec.get("one_active", False),
                max_per_day_per_citizen=spec.get("max_per_day", 1),
                max_slots_per_booking=spec.get("max_slots", 1),
                max_series_count=spec.get("max_series", 0),
                max_active_per_citizen=spec.get("max_active", 3),
                form_schema=spec.get("form", {}),
                what_to_bring=spec["bring"],
                resource_ids=res_ids,
                horizon_days=60,
            ),
        )
        await service.set_hours(
            session,
            ente_id=ente.id,
            service_id=svc.id,
            hours=[IntervalIn(weekday=d, start=a, end=b) for d, a, b in spec["hours"]],
        )
        if spec["kind"] == "capacity":
            day = datetime.now(tz).date() + timedelta(days=14)
            while day.weekday() != 5:
                day += timedelta(days=1)
            start = datetime.combine(day, time(10), tz)
            if not await session.scalar(select(Event.id).where(Event.service_id == svc.id)):
                await service.add_event(
                    session,
                    ente_id=ente.id,
                    service_id=svc.id,
                    data=EventIn(
                        title="Open day: visita al nido e incontro con le educatrici",
                        location_id=loc.id,
                        start=start,
                        end=start + timedelta(minutes=90),
                        seats=30,
                    ),
                )
        log.append(f"bookings: service {spec['slug']} created")
    return log
