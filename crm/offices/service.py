from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.core.errors import Conflict, NotFound
from crm.core.records import get_in_ente
from crm.offices.models import Office, Topic
from crm.offices.schemas import OfficeIn, TopicIn


async def list_offices(session: AsyncSession, *, ente_id: int) -> Sequence[Office]:
    return (await session.scalars(select(Office).where(Office.ente_id == ente_id).order_by(Office.name))).all()


async def get_office(session: AsyncSession, *, ente_id: int, office_id: int) -> Office:
    return await get_in_ente(session, Office, ente_id=ente_id, record_id=office_id, what="office")


async def create_office(session: AsyncSession, *, ente_id: int, data: OfficeIn) -> Office:
    if await session.scalar(select(Office.id).where(Office.ente_id == ente_id, Office.code == data.code)):
        raise Conflict(f"office code {data.code!r} already used", fields={"code": "already used"})
    office = Office(ente_id=ente_id, **data.model_dump())
    session.add(office)
    await session.flush()
    return office


async def list_topics(session: AsyncSession, *, ente_id: int) -> Sequence[Topic]:
    return (await session.scalars(select(Topic).where(Topic.ente_id == ente_id).order_by(Topic.name))).all()


async def topic_names(session: AsyncSession, *, ente_id: int) -> dict[str, str]:
    """Each topic's code and the name screens show for it (a code never reaches a screen)."""
    return {t.slug: t.name for t in await list_topics(session, ente_id=ente_id)}


async def get_topic(session: AsyncSession, *, ente_id: int, topic_id: int) -> Topic:
    return await get_in_ente(session, Topic, ente_id=ente_id, record_id=topic_id, what="topic")


async def get_topic_by_slug(session: AsyncSession, *, ente_id: int, slug: str) -> Topic:
    topic = await session.scalar(select(Topic).where(Topic.ente_id == ente_id, Topic.slug == slug))
    if topic is None:
        raise NotFound(f"topic {slug!r} not found", fields={"topic": "unknown topic"})
    return topic


async def create_topic(session: AsyncSession, *, ente_id: int, data: TopicIn) -> Topic:
    await get_office(session, ente_id=ente_id, office_id=data.office_id)
    if await session.scalar(select(Topic.id).where(Topic.ente_id == ente_id, Topic.slug == data.slug)):
        raise Conflict(f"topic {data.slug!r} already exists", fields={"slug": "already used"})
    topic = Topic(ente_id=ente_id, **data.model_dump())
    session.add(topic)
    await session.flush()
    return topic
