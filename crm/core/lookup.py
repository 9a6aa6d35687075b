"""Citizen look-ups by code plus a second factor (istanze, bookings): the request shape, the proof check and the
throttle they share.

The second factor is something only the citizen should know: the last 4+ digits of a phone number they gave us, or
their fiscal code. A look-up that fails answers the same 404 whether the code is unknown or the factor wrong, and
counts against two limits kept in the database (so every replica sees them): failures per code (someone guessing
the factor of one code) and failures per caller (one sender trying many codes, of any kind).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import timedelta
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from crm.core import ratelimit
from crm.core.errors import NotFound

T = TypeVar("T")

WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_CODE = 5
MAX_FAILURES_PER_CALLER = 20


class LookupIn(BaseModel):
    """Citizen-facing look-up: the code plus something only the citizen knows."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=4, max_length=12)
    second_factor: str = Field(
        min_length=4, max_length=16, description="last 4+ digits of the citizen's phone, or their fiscal code"
    )


def factor_matches(factor: str, *, fiscal_codes: Iterable[str | None], phones: Iterable[str | None]) -> bool:
    """True when ``factor`` is one of the fiscal codes, or the last 4+ digits of one of the phone numbers."""
    f = re.sub(r"\s", "", factor).upper()
    if any(cf and f == cf.upper() for cf in fiscal_codes):
        return True
    digits = re.sub(r"\D", "", f)
    return len(digits) >= 4 and any(p and re.sub(r"\D", "", p).endswith(digits) for p in phones)


def limits(scope: str, ente_id: int, code: str, caller_key: str | None) -> list[ratelimit.Limit]:
    """The per-code limit of one kind of look-up (``scope``) and the per-caller limit shared by all kinds."""
    out = [
        ratelimit.Limit(
            f"{scope}.lookup:code:{ente_id}:{code.strip().upper()}",
            MAX_FAILURES_PER_CODE,
            WINDOW,
            "too many failed look-ups for this code; try again later",
        )
    ]
    if caller_key:
        # the sender id may be a phone number: only its digest is stored
        out.append(
            ratelimit.Limit(
                f"citizen.lookup:caller:{ente_id}:{ratelimit.digest(caller_key)}",
                MAX_FAILURES_PER_CALLER,
                WINDOW,
                "too many failed look-ups from this caller; try again later",
            )
        )
    return out


def caller_of(headers: Mapping[str, str]) -> str | None:
    """The caller key a client (the bot: its sender id) passes in X-Citizen-Key, if any."""
    return (headers.get("x-citizen-key") or "").strip() or None


async def throttled(session: AsyncSession, limits: list[ratelimit.Limit], find: Callable[[], Awaitable[T]]) -> T | None:
    """Run a look-up under ``limits``: 429 when one is exhausted; a miss (NotFound) is counted and gives None. The
    count is in the caller's transaction, so the caller raises its 404 after committing. A success resets no counter
    (the per-code one is shared with other callers; the per-caller one would let a guesser wipe it)."""
    await ratelimit.check(session, limits)
    try:
        return await find()
    except NotFound:
        await ratelimit.hit(session, limits)
        return None
