"""Demo instance types and the albo of associations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crm.instances import service
from crm.instances.models import InstanceType, ReferenceItem
from crm.instances.schemas import InstanceTypeIn
from crm.offices.models import Office

S = {"type": "string", "minLength": 1}
TYPES: list[dict[str, Any]] = [
    dict(
        slug="istanza-generica",
        title="Istanza generica",
        office="URP",
        topic="urp",
        form={
            "type": "object",
            "required": ["subject", "description"],
            "additionalProperties": False,
            "properties": {
                "subject": {**S, "maxLength": 200, "title": "Oggetto"},
                "description": {**S, "maxLength": 5000, "title": "Descrizione"},
            },
        },
    ),
    dict(
        slug="richiesta-patrocinio",
        title="Richiesta di patrocinio",
        office="URP",
        topic="urp",
        verified=True,
        form={
            "type": "object",
            "required": ["association", "event_title", "event_date", "place", "description"],
            "properties": {
                "association": {
                    "type": "string",
                    "x-reference": "albo-associazioni",
                    "title": "Associazione (dall'albo comunale)",
                },
                "event_title": {**S, "maxLength": 200, "title": "Titolo dell'evento"},
                "event_date": {"type": "string", "format": "date", "title": "Data"},
                "place": {**S, "maxLength": 200, "title": "Luogo"},
                "description": {**S, "maxLength": 5000, "title": "Descrizione"},
            },
        },
    ),
    dict(
        slug="accesso-atti",
        title="Accesso agli atti",
        office="URP",
        topic="urp",
        form={
            "type": "object",
            "required": ["documents", "reason"],
            "properties": {
                "documents": {**S, "title": "Documenti richiesti"},
                "reason": {**S, "title": "Motivazione (interesse diretto)"},
                "format": {"type": "string", "enum": ["digitale", "cartaceo"], "title": "Formato"},
            },
        },
    ),
    dict(
        slug="occupazione-suolo-pubblico",
        title="Occupazione di suolo pubblico",
        office="TEC",
        topic="mobilita",
        attachments=["planimetria"],
        form={
            "type": "object",
            "required": ["place", "date_from", "date_to", "square_meters", "purpose"],
            "properties": {
                "place": {**S, "title": "Luogo"},
                "date_from": {"type": "string", "format": "date"},
                "date_to": {"type": "string", "format": "date"},
                "square_meters": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
                "purpose": {**S, "title": "Scopo (trasloco, ponteggio, dehors...)"},
            },
        },
    ),
    dict(
        slug="segnalazione-disservizio",
        title="Segnalazione di disservizio",
        office="URP",
        topic="segnalazioni",
        deadline=30,
        form={
            "type": "object",
            "required": ["description", "location"],
            "properties": {
                "description": {**S, "maxLength": 5000},
                "location": {**S, "maxLength": 300},
                "photo": {"type": "string", "title": "Foto (allegato facoltativo)"},
            },
        },
    ),
]
ALBO = [
    ("pro-loco", "Pro Loco Borgo Aurelio"),
    ("avis", "AVIS sezione di Borgo Aurelio"),
    ("banda", "Banda musicale G. Verdi"),
    ("polisportiva", "Polisportiva Aurelia ASD"),
]


async def seed(session: Any, ente: Any) -> list[str]:
    log = []
    for value, label in ALBO:
        if not await session.scalar(
            select(ReferenceItem.id).where(
                ReferenceItem.ente_id == ente.id,
                ReferenceItem.list_slug == "albo-associazioni",
                ReferenceItem.value == value,
            )
        ):
            session.add(ReferenceItem(ente_id=ente.id, list_slug="albo-associazioni", value=value, label=label))
    for spec in TYPES:
        if await session.scalar(
            select(InstanceType.id).where(InstanceType.ente_id == ente.id, InstanceType.slug == spec["slug"])
        ):
            continue
        office_id = await session.scalar(
            select(Office.id).where(Office.ente_id == ente.id, Office.code == spec["office"])
        )
        await service.create_type(
            session,
            ente_id=ente.id,
            data=InstanceTypeIn(
                slug=spec["slug"],
                title=spec["title"],
                office_id=office_id,
                topic=spec["topic"],
                form_schema=spec["form"],
                required_attachments=spec.get("attachments", []),
                verified_identity_required=spec.get("verified", False),
                deadline_days=spec.get("deadline", 30),
            ),
        )
        log.append(f"istanze: type {spec['slug']} created")
    return log
