"""Dashboard figures for a period of local days of the ente. Each function reads only, takes the session and the
ente, and returns plain data; each docstring says how its figure is defined. Durations are wall-clock hours
(nights and holidays included), because that is what the citizen waits; the SLA report counts working hours."""

from __future__ import annotations

import asyncio
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.db import utcnow

IDLE_MINUTES = 30  # a bot conversation with no message for this long has ended
PRIORITIES = ("alta", "media", "bassa")


@dataclass(frozen=True)
class Period:
    """From the first to the last local day, both included, in the ente's time zone."""

    start: date
    end: date
    tz: ZoneInfo

    @classmethod
    def last_days(cls, days: int, tz: ZoneInfo, today: date | None = None) -> Period:
        today = today or datetime.now(tz).date()
        return cls(start=today - timedelta(days=days - 1), end=today, tz=tz)

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time(0), self.tz).astimezone(UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(0), self.tz).astimezone(UTC)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def local_day(self, at: datetime) -> date:
        return at.astimezone(self.tz).date()


def _between(column: Any, period: Period) -> Any:
    return (column >= period.since) & (column < period.until)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least q% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _summary(hours: list[float]) -> dict[str, Any]:
    return {
        "count": len(hours),
        "median_hours": round(statistics.median(hours), 2) if hours else None,
        "p90_hours": round(p, 2) if (p := percentile(hours, 90)) is not None else None,
    }


async def conversations_by_day(session: AsyncSession, *, ente_id: int, period: Period) -> dict[str, Any]:
    """Conversations started on each local day of the period, per channel (the day the citizen first wrote, or
    the bot or an operator opened it)."""
    from crm.conversations.models import Conversation

    rows = (
        await session.execute(
            select(Conversation.created_at, Conversation.channel).where(
                Conversation.ente_id == ente_id, _between(Conversation.created_at, period)
            )
        )
    ).all()
    per_day: dict[date, Counter[str]] = {d: Counter() for d in period.days}
    for created_at, channel in rows:
        per_day.setdefault(period.local_day(created_at), Counter())[channel] += 1
    totals: Counter[str] = Counter(channel for _, channel in rows)
    return {
        "channels": sorted(totals),
        "days": [(d, dict(per_day[d])) for d in period.days],
        "totals": dict(totals),
        "total": len(rows),
    }


async def bot_outcomes(
    session: AsyncSession, *, ente_id: int, period: Period, now: datetime | None = None
) -> dict[str, Any]:
    """Of the conversations started in the period:

    - *handed off*: passed to an operator (a hand-off happened, or an operator took it);
    - *contained*: ended without an operator: closed, or silent for ``IDLE_MINUTES``, with no hand-off;
    - *ongoing*: still with the bot and active.

    Containment rate and hand-off rate are over the *finished* ones (contained + handed off, adding up to 100%): a
    conversation still going on has no outcome yet, and counting it as "not contained" showed 0% containment while
    almost every conversation was "in corso". ``ongoing`` is reported apart."""
    from crm.conversations.models import Conversation

    now = now or utcnow()
    idle = now - timedelta(minutes=IDLE_MINUTES)
    rows = (
        await session.execute(
            select(
                Conversation.mode, Conversation.handoff_at, Conversation.taken_at, Conversation.last_message_at
            ).where(Conversation.ente_id == ente_id, _between(Conversation.created_at, period))
        )
    ).all()
    handed = contained = ongoing = 0
    for mode, handoff_at, taken_at, last_at in rows:
        if handoff_at is not None or taken_at is not None:
            handed += 1
        elif mode == "closed" or last_at < idle:
            contained += 1
        else:
            ongoing += 1
    total = len(rows)
    finished = contained + handed
    return {
        "total": total,
        "contained": contained,
        "handed_off": handed,
        "ongoing": ongoing,
        "finished": finished,
        "containment_rate": _rate(contained, finished),
        "handoff_rate": _rate(handed, finished),
    }


async def csat(session: AsyncSession, *, ente_id: int, period: Period) -> dict[str, Any]:
    """The citizens' satisfaction with the conversations operators handled (CSAT), asked at the close, for the
    questions asked in the period: per operator, topic and channel, the answers, the average score (1-5) and the
    share of satisfied citizens (4 or 5, the usual CSAT). ``asked`` counts the questions, answered or not."""
    from crm.conversations.models import ConversationRating
    from crm.offices.models import Topic
    from crm.operators.models import Operator

    rows = (
        await session.execute(
            select(
                ConversationRating.score, ConversationRating.channel, Operator.full_name, Operator.username, Topic.name
            )
            .outerjoin(Operator, Operator.id == ConversationRating.operator_id)
            .outerjoin(Topic, Topic.id == ConversationRating.topic_id)
            .where(ConversationRating.ente_id == ente_id, _between(ConversationRating.asked_at, period))
        )
    ).all()

    def group(key_of: Any) -> list[dict[str, Any]]:
        scores: dict[str, list[int]] = defaultdict(list)
        asked: Counter[str] = Counter()
        for r in rows:
            key = key_of(r)
            asked[key] += 1
            if r.score is not None:
                scores[key].append(r.score)
        return [
            {
                "name": k,
                "asked": asked[k],
                "answers": len(scores[k]),
                "average": round(float(statistics.mean(scores[k])), 2) if scores[k] else None,
                "satisfied_rate": _rate(sum(1 for x in scores[k] if x >= 4), len(scores[k])),
            }
            for k in sorted(asked)
        ]

    everyone = group(lambda r: "Tutte")
    return {
        "operators": group(lambda r: r.full_name or r.username or "(operatore rimosso)"),
        "topics": group(lambda r: r.name or "(senza ambito)"),
        "channels": group(lambda r: r.channel),
        "total": everyone[0] if everyone else None,
    }


async def request_times(session: AsyncSession, *, ente_id: int, period: Period) -> dict[str, Any]:
    """Requests (tickets) opened in the period, overall and per priority:

    - *first response*: from opening to being taken in charge (``taken_at``), for the requests taken;
    - *resolution*: from opening to being marked resolved (``resolved_at``), for the requests resolved.

    Median and 90th percentile (nearest rank) in hours; ``count`` is how many requests each figure is made of."""
    from crm.tickets.models import Ticket

    rows = (
        await session.execute(
            select(Ticket.priority, Ticket.created_at, Ticket.taken_at, Ticket.resolved_at).where(
                Ticket.ente_id == ente_id, _between(Ticket.created_at, period)
            )
        )
    ).all()
    first: dict[str, list[float]] = defaultdict(list)
    resolution: dict[str, list[float]] = defaultdict(list)
    opened: Counter[str] = Counter()
    for prio, created, taken, resolved in rows:
        opened[prio] += 1
        if taken is not None:
            first[prio].append((taken - created).total_seconds() / 3600)
        if resolved is not None:
            resolution[prio].append((resolved - created).total_seconds() / 3600)
    out: dict[str, Any] = {}
    for key in ("all", *PRIORITIES):
        prios = PRIORITIES if key == "all" else (key,)
        out[key] = {
            "opened": sum(opened[p] for p in prios),
            "first_response": _summary([v for p in prios for v in first[p]]),
            "resolution": _summary([v for p in prios for v in resolution[p]]),
        }
    return out


async def sla_compliance(session: AsyncSession, *, ente_id: int, period: Period) -> dict[str, Any]:
    """The tickets service's SLA report for the requests opened in the period: per priority, taken in charge
    within the promised working hours (met), late (breached) or not yet due (pending); compliance = met / (met +
    breached), against the 90% target."""
    from crm.tickets import service as tickets

    return await tickets.sla_report(session, ente_id=ente_id, since=period.since, until=period.until)


async def bookings_summary(session: AsyncSession, *, ente_id: int, period: Period) -> dict[str, Any]:
    """Bookings per service:

    - *made*: booked in the period (a move to another time does not count as a new booking);
    - *moved*: moved to another time in the period;
    - *cancelled*: cancelled in the period (moves excluded);
    - *attended* / *no-show*: appointments of the period marked so at the desk; no-show rate = no-show /
      (attended + no-show)."""
    from crm.bookings.models import Booking
    from crm.bookings.service import list_services

    names = {s.id: s.name for s in await list_services(session, ente_id=ente_id, include_inactive=True)}
    cols = (
        Booking.id,
        Booking.service_id,
        Booking.status,
        Booking.created_at,
        Booking.cancelled_at,
        Booking.start,
        Booking.rescheduled_from_id,
    )
    rows = (
        await session.execute(
            select(*cols).where(
                Booking.ente_id == ente_id,
                _between(Booking.created_at, period)
                | _between(Booking.cancelled_at, period)
                | _between(Booking.start, period),
            )
        )
    ).all()
    moved_away = set(
        (
            await session.scalars(
                select(Booking.rescheduled_from_id).where(
                    Booking.ente_id == ente_id,
                    Booking.rescheduled_from_id.is_not(None),
                    _between(Booking.created_at, period),
                )
            )
        ).all()
    )
    per: dict[int, Counter[str]] = defaultdict(Counter)
    since, until = period.since, period.until
    for bid, service_id, status, created, cancelled, start, moved_from in rows:
        c = per[service_id]
        if since <= created < until:
            c["moved" if moved_from else "made"] += 1
        if cancelled is not None and since <= cancelled < until and bid not in moved_away:
            c["cancelled"] += 1
        if since <= start < until and status in ("attended", "no_show"):
            c[status] += 1
    keys = ("made", "moved", "cancelled", "attended", "no_show")
    services = []
    for service_id, c in sorted(per.items(), key=lambda x: names.get(x[0], "")):
        services.append(
            {
                "service_id": service_id,
                "service": names.get(service_id, f"Servizio #{service_id}"),
                **{k: c[k] for k in keys},
                "no_show_rate": _rate(c["no_show"], c["attended"] + c["no_show"]),
            }
        )
    total = {k: sum(s[k] for s in services) for k in keys}
    total["no_show_rate"] = _rate(total["no_show"], total["attended"] + total["no_show"])
    return {"services": services, "total": total}


async def top_gaps(
    session: AsyncSession, *, ente_id: int, period: Period, embedder: Any, limit: int = 10
) -> dict[str, Any]:
    """Questions the knowledge base could not answer (or answered unhelpfully), asked in the period and not yet
    handled, grouped by meaning exactly as the knowledge-base gap list groups them; the largest groups first. The
    questions sent to another body (the gap list's second tab) are not among them: the citizen was told where to go."""
    from crm.kb import gaps as gap_groups
    from crm.kb.models import Gap

    rows = list(
        (
            await session.scalars(
                select(Gap)
                .where(
                    Gap.ente_id == ente_id,
                    Gap.resolved.is_(False),
                    Gap.kind != "redirected",
                    _between(Gap.at, period),
                )
                .order_by(Gap.at.desc())
                .limit(500)
            )
        ).all()
    )
    groups = await asyncio.to_thread(gap_groups.group, rows, embedder) if rows else []
    return {"questions": len(rows), "groups": groups[:limit], "total_groups": len(groups)}
