"""The demo municipality (Comune di Borgo Aurelio): offices, topics, operators, contacts, and each module's data.

Idempotent: records are looked up by natural keys before being created.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from stdnum.it import codicefiscale

from crm.config import get_settings
from crm.contacts import service as contacts
from crm.contacts.models import Contact
from crm.contacts.schemas import ContactIn
from crm.db import make_engine, make_sessionmaker, transaction
from crm.entes import service as entes
from crm.offices import service as offices
from crm.offices.models import Office, Topic
from crm.offices.schemas import OfficeIn, TopicIn
from crm.operators import service as operators
from crm.operators.models import Operator
from crm.operators.schemas import OperatorIn

OFFICES = [
    (
        "URP",
        "Ufficio Relazioni con il Pubblico",
        "urp@comune.borgoaurelio.it",
        "Piazza del Municipio 1",
        [("urp", "Informazioni generali e reclami"), ("segnalazioni", "Segnalazioni e disservizi")],
    ),
    (
        "ANAG",
        "Servizi Demografici",
        "anagrafe@comune.borgoaurelio.it",
        "Piazza del Municipio 1",
        [("anagrafe", "Anagrafe e carta d'identità"), ("stato-civile", "Stato civile")],
    ),
    (
        "TRIB",
        "Ufficio Tributi",
        "tributi@comune.borgoaurelio.it",
        "Via Roma 12",
        [("tributi", "TARI, IMU e tributi locali")],
    ),
    (
        "SOC",
        "Servizi Sociali",
        "sociale@comune.borgoaurelio.it",
        "Via Garibaldi 4",
        [("sociale", "Servizi sociali e contributi"), ("scuola", "Scuola, mensa e trasporto scolastico")],
    ),
    (
        "TEC",
        "Ufficio Tecnico",
        "tecnico@comune.borgoaurelio.it",
        "Via Roma 14",
        [
            ("edilizia", "Edilizia privata e SUAP"),
            ("mobilita", "Mobilità, ZTL e permessi"),
            ("ambiente", "Ambiente e rifiuti"),
        ],
    ),
]

# the URP's phone is what the assistant gives citizens (GET /api/v1/desk), never a number written in the bot
OFFICE_PHONES = {
    "URP": "0761 123456",
    "ANAG": "0761 123460",
    "TRIB": "0761 123470",
    "SOC": "0761 123480",
    "TEC": "0761 123490",
}

OPERATORS = [
    ("admin", "admin-demo-2026", "admin", "Amministratrice Demo", []),
    (
        "operatore",
        "operatore-demo-2026",
        "operator",
        "Giulia Operatrice",
        [
            "urp",
            "segnalazioni",
            "anagrafe",
            "tributi",
            "sociale",
            "scuola",
            "mobilita",
            "ambiente",
            "edilizia",
            "stato-civile",
        ],
    ),
    ("operatore2", "operatore2-demo-2026", "operator", "Marco Operatore", ["urp", "segnalazioni", "anagrafe"]),
    ("centralino", "centralino-demo-2026", "phone_operator", "Sara Centralino", ["urp"]),
    ("backoffice", "backoffice-demo-2026", "backoffice", "Luca Backoffice", ["anagrafe", "stato-civile", "edilizia"]),
]


def demo_fiscal_code(first15: str) -> str:
    return first15 + codicefiscale.calc_check_digit(first15)


CONTACTS = [
    ("Maria", "Rossi", demo_fiscal_code("RSSMRA80A41H501"), "+393471234567", "maria.rossi@example.it", "sms"),
    ("Giuseppe", "Bianchi", demo_fiscal_code("BNCGPP75C12F205"), "+393389876543", "g.bianchi@example.it", "email"),
    ("Anna", "Esposito", demo_fiscal_code("SPSNNA92E50F839"), "+393201112233", None, "telegram"),
    ("Luca", "Ferrari", demo_fiscal_code("FRRLCU68H15A944"), "+393494445566", "luca.ferrari@example.it", "sms"),
    ("Francesca", "Romano", demo_fiscal_code("RMNFNC85T60L219"), None, "francesca.romano@example.it", "email"),
]


async def seed_core(s: Any) -> tuple[Any, list[str]]:
    settings = get_settings()
    log: list[str] = []
    ente = await entes.get_by_slug(s, settings.default_ente)
    if ente is None:
        ente = await entes.create(
            s, slug=settings.default_ente, name=settings.default_ente_name, patron_day=settings.patron_day or "06-29"
        )
        log.append(f"ente {ente.slug} created")
    for code, name, email, address, topics in OFFICES:
        office = await s.scalar(select(Office).where(Office.ente_id == ente.id, Office.code == code))
        if office is None:
            office = await offices.create_office(
                s,
                ente_id=ente.id,
                data=OfficeIn(code=code, name=name, email=email, address=address, phone=OFFICE_PHONES.get(code)),
            )
            log.append(f"office {code} created")
        elif office.phone is None and code in OFFICE_PHONES:  # demo databases seeded before phones were added
            office.phone = OFFICE_PHONES[code]
        for slug, tname in topics:
            if not await s.scalar(select(Topic.id).where(Topic.ente_id == ente.id, Topic.slug == slug)):
                await offices.create_topic(s, ente_id=ente.id, data=TopicIn(office_id=office.id, slug=slug, name=tname))
    for username, password, role, full_name, topics in OPERATORS:
        if not await s.scalar(select(Operator.id).where(Operator.username == username)):
            await operators.create(
                s,
                ente_id=ente.id,
                data=OperatorIn(username=username, password=password, role=role, full_name=full_name, topics=topics),
            )
            log.append(f"operator {username} ({role}) created")
    for first, last, cf, phone, email, pref in CONTACTS:
        if not await s.scalar(select(Contact.id).where(Contact.ente_id == ente.id, Contact.fiscal_code == cf)):
            await contacts.create(
                s,
                ente_id=ente.id,
                data=ContactIn(
                    first_name=first,
                    last_name=last,
                    fiscal_code=cf,
                    phones=[phone] if phone else [],
                    emails=[email] if email else [],
                    preferred_channel=pref,
                    consent_privacy=True,
                ),
            )
            log.append(f"contact {first} {last} created")
    return ente, log


async def seed() -> list[str]:
    """Seed the core, then every module that ships a ``demo.seed(session, ente)``."""
    from crm.modules import MODULES, part
    from crm.registry import load_models

    load_models()
    engine = make_engine(get_settings().database_url)
    maker = make_sessionmaker(engine)
    try:
        async with transaction(maker) as s:
            ente, log = await seed_core(s)
        for module in MODULES:
            demo = part(module, "demo")
            if demo is None:
                continue
            async with transaction(maker) as s:
                ente = await entes.get(s, ente.id)
                result = await demo.seed(s, ente)
                log.extend(result or [])
    finally:
        await engine.dispose()
    log.append("demo data ready")
    return log
