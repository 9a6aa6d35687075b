"""Creating enti and their service tokens; office hours of an ente for SLA and closures."""

from __future__ import annotations

import secrets
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.core.auth import hash_token
from crm.core.errors import Conflict, NotFound, ValidationFailed
from crm.core.workhours import OfficeHours, make_office_hours, parse_office_hours, parse_patron_day
from crm.entes.models import Ente, ServiceToken
from crm.offices.models import Topic

CHAT_TARGET_RANGE = (1, 24 * 60)  # minutes of office time a first-response target may be


async def get_by_slug(session: AsyncSession, slug: str) -> Ente | None:
    return await session.scalar(select(Ente).where(Ente.slug == slug))


async def get(session: AsyncSession, ente_id: int) -> Ente:
    ente = await session.get(Ente, ente_id)
    if ente is None:
        raise NotFound("ente not found")
    return ente


async def timezone(session: AsyncSession, ente_id: int) -> ZoneInfo:
    """The ente's time zone: every date and time a citizen or an operator reads is in it."""
    return (await get(session, ente_id)).tz


def _check_calendar(office_hours: str, patron_day: str | None) -> dict[int, Any]:
    """422 for a bad office-hours spec or patron day; the parsed weekday map otherwise."""
    try:
        hours = parse_office_hours(office_hours)
    except ValueError as exc:
        raise ValidationFailed(str(exc), fields={"office_hours": str(exc)}) from None
    try:
        parse_patron_day(patron_day)
    except (ValueError, TypeError):
        raise ValidationFailed("patron_day must be MM-DD", fields={"patron_day": "must be MM-DD"}) from None
    return hours


async def create(
    session: AsyncSession,
    *,
    slug: str,
    name: str,
    timezone: str = "Europe/Rome",
    office_hours: str = "mon-fri 08:00-12:30,14:00-17:00",
    patron_day: str | None = None,
) -> Ente:
    _check_calendar(office_hours, patron_day)
    if await get_by_slug(session, slug):
        raise Conflict(f"ente {slug!r} exists")
    ente = Ente(slug=slug, name=name, timezone=timezone, office_hours=office_hours, patron_day=patron_day)
    session.add(ente)
    await session.flush()
    return ente


async def get_or_create(session: AsyncSession, *, slug: str, name: str, patron_day: str | None = None) -> Ente:
    return await get_by_slug(session, slug) or await create(session, slug=slug, name=name, patron_day=patron_day)


async def create_service_token(session: AsyncSession, *, ente_id: int, name: str) -> str:
    """Returns the clear token once; only its hash is kept."""
    token = "urp_" + secrets.token_urlsafe(32)
    session.add(ServiceToken(ente_id=ente_id, name=name, token_hash=hash_token(token)))
    await session.flush()
    return token


async def set_office_hours(session: AsyncSession, *, ente_id: int, office_hours: str, patron_day: str | None) -> Ente:
    """They set SLA due times and whether the assistant hands off or records a callback: at least one interval."""
    if not _check_calendar(office_hours, patron_day):
        raise ValidationFailed("office hours need at least one interval", fields={"office_hours": "empty"})
    ente = await get(session, ente_id)
    ente.office_hours, ente.patron_day = office_hours, patron_day or None
    await session.flush()
    return ente


async def set_chat_targets(
    session: AsyncSession, *, ente_id: int, minutes: int, per_topic: dict[int, int | None]
) -> Ente:
    """The first-response target of handed-off chats (minutes of office time), and the topics that set their own
    (None: the ente's)."""
    low, high = CHAT_TARGET_RANGE
    bad = {str(k): f"between {low} and {high}" for k, v in per_topic.items() if v is not None and not low <= v <= high}
    if not low <= minutes <= high:
        bad["minutes"] = f"between {low} and {high}"
    if bad:
        raise ValidationFailed("target out of range", fields=bad)
    ente = await get(session, ente_id)
    ente.chat_first_response_minutes = minutes
    topics = {t.id: t for t in (await session.scalars(select(Topic).where(Topic.ente_id == ente_id))).all()}
    for topic_id, value in per_topic.items():
        if topic_id not in topics:
            raise ValidationFailed("unknown topic", fields={str(topic_id): "unknown topic"})
        topics[topic_id].chat_first_response_minutes = value
    await session.flush()
    return ente


def office_hours_of(ente: Ente) -> OfficeHours:
    return make_office_hours(ente.office_hours, ente.timezone, ente.patron_day)
