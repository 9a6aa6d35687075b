"""The first-response SLA of a chat handed off to the operators, on the ente's working time (Zammad's escalation).

The clock starts at the handoff and runs only while the office is open (the ente's office hours, Italian public
holidays, the patron day; in the ente's time zone, so a DST change moves nothing): a chat handed off at 16:58 with a
5-minute target is due at 08:03 of the next working day. It stops at the first reply an operator sends. States:
``ok`` ("In tempo"), ``due`` ("In scadenza": past 60% of the target) and ``late`` ("Oltre il tempo"), each with the
time left or over in words ("scade tra 12 min", "scade domani alle 08:03", "in ritardo di 1 h 5 min").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.conversations.models import Conversation
from crm.core.labels import WEEKDAYS
from crm.core.workhours import OfficeHours, add_working_hours, working_hours_between
from crm.entes import service as entes
from crm.offices.models import Topic

LABEL = {"ok": "In tempo", "due": "In scadenza", "late": "Oltre il tempo"}
ICON = {"ok": "✓", "due": "⏳", "late": "!"}  # beside the label: the state is never told by colour alone
DUE_SHARE = 0.6  # past this share of the target the chat is "in scadenza"
MIN_TARGET_MINUTES, MAX_TARGET_MINUTES = 1, 24 * 60


@dataclass(frozen=True)
class Targets:
    """An ente's first-response targets: its office hours, its own target, and the topics that set theirs."""

    hours: OfficeHours
    minutes: int
    per_topic: dict[int, int]

    def minutes_for(self, topic_id: int | None) -> int:
        return self.per_topic.get(topic_id, self.minutes) if topic_id is not None else self.minutes


async def targets(session: AsyncSession, ente_id: int) -> Targets:
    ente = await entes.get(session, ente_id)
    rows = await session.execute(
        select(Topic.id, Topic.chat_first_response_minutes).where(
            Topic.ente_id == ente_id, Topic.chat_first_response_minutes.is_not(None)
        )
    )
    return Targets(
        hours=entes.office_hours_of(ente),
        minutes=ente.chat_first_response_minutes,
        per_topic={tid: int(m) for tid, m in rows.all() if m is not None},
    )


@dataclass(frozen=True)
class Clock:
    state: str  # ok | due | late
    due_at: datetime  # the instant the target runs out
    seconds: int  # working seconds left before it (ok, due) or past it (late)
    target_minutes: int
    detail: str  # "scade tra 12 min", "scade domani alle 08:03", "in ritardo di 1 h 5 min"

    @property
    def label(self) -> str:
        return LABEL[self.state]

    @property
    def icon(self) -> str:
        return ICON[self.state]


def span(seconds: float, *, up: bool) -> str:
    """A duration in Italian, in whole minutes (rounded up for the time left, down for the time over)."""
    minutes = math.ceil(seconds / 60) if up else math.floor(seconds / 60)
    if minutes < 1:
        return "meno di un minuto"
    hours, mins = divmod(minutes, 60)
    if hours >= 10:  # a long delay: the minutes would be noise
        return f"{hours} h"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def _working_seconds(start: datetime, end: datetime, oh: OfficeHours) -> int:
    return round(working_hours_between(start, end, oh) * 3600)  # whole seconds: no 3899.9999 for 65 minutes


def clock(c: Conversation, t: Targets, now: datetime) -> Clock | None:
    """Where the first reply of a handed-off chat stands; None when the SLA does not apply (never handed off,
    answered, back with the assistant, closed)."""
    if c.handoff_at is None or c.first_response_at is not None or c.mode not in ("waiting", "assigned"):
        return None
    minutes = t.minutes_for(c.topic_id)
    due = add_working_hours(c.handoff_at, minutes / 60, t.hours)
    if now >= due:
        over = _working_seconds(due, now, t.hours)
        return Clock("late", due, int(over), minutes, "in ritardo di " + span(over, up=False))
    left = _working_seconds(now, due, t.hours)
    state = "due" if left <= minutes * 60 * (1 - DUE_SHARE) else "ok"
    if abs((due - now).total_seconds() - left) < 1:  # the office stays open until then: a countdown
        detail = "scade tra " + span(left, up=True)
    else:  # a closure (lunch, the night, a holiday) comes first: the time it runs out
        local, today = due.astimezone(t.hours.tz), now.astimezone(t.hours.tz).date()
        if local.date() == today:
            detail = f"scade alle {local:%H:%M}"
        elif local.date() == today + timedelta(days=1):
            detail = f"scade domani alle {local:%H:%M}"
        else:
            detail = f"scade {WEEKDAYS[local.weekday()]} {local:%d/%m} alle {local:%H:%M}"
    return Clock(state, due, int(left), minutes, detail)
