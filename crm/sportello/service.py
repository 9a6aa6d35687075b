"""The desk's own records: ratings (and their summary for the console's dashboard), istanza drafts, the place and
files of a segnalazione. No HTTP here."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.db import utcnow
from crm.instances.service import FileStore, file_problem
from crm.sportello.models import BookingDraft, Draft, Rating, ReportFile, ReportPlace

POSITIVE = {
    "chiare": "Le indicazioni erano chiare",
    "complete": "Le indicazioni erano complete",
    "corretto": "Capivo sempre che stavo procedendo correttamente",
    "tecnici": "Non ho avuto problemi tecnici",
    "altro": "Altro",
}
NEGATIVE = {
    "non-chiare": "A volte le indicazioni non erano chiare",
    "non-complete": "A volte le indicazioni non erano complete",
    "non-corretto": "A volte non capivo se stavo procedendo correttamente",
    "tecnici": "Ho avuto problemi tecnici",
    "altro": "Altro",
}
SERVICES = {
    "": "Pagine informative",
    "appointment-booking": "Prenota appuntamento",
    "report-inefficiency": "Segnala disservizio",
    "online-instance": "Istanze online",
}
REPORT_CATEGORIES = {
    "strade": "Strade e marciapiedi",
    "illuminazione": "Illuminazione pubblica",
    "rifiuti": "Rifiuti e pulizia",
    "verde": "Verde pubblico",
    "acqua": "Acqua e fognature",
    "segnaletica": "Segnaletica",
    "altro": "Altro",
}
MAX_REPORT_FILES = 5


async def rate(
    session: AsyncSession,
    *,
    ente_id: int,
    page: str,
    service: str,
    stars: int,
    reason: str,
    comment: str,
    signed_in: bool,
) -> Rating:
    allowed = POSITIVE if stars > 3 else NEGATIVE
    # the comment is free text a citizen may fill with personal data: kept short, never logged
    r = Rating(
        ente_id=ente_id,
        page=page[:200],
        service=service if service in SERVICES else "",
        stars=stars,
        reasons=[reason] if reason in allowed else [],
        comment=re.sub(r"\s+", " ", comment).strip()[:200],
        signed_in=signed_in,
    )
    session.add(r)
    await session.flush()
    return r


@dataclass(frozen=True)
class RatingSummary:
    """The ratings of one service (or of one informative page, ``page`` set)."""

    service: str
    label: str
    count: int
    average: float
    distribution: dict[int, int]
    reasons: list[tuple[str, int]]
    page: str = ""


@dataclass(frozen=True)
class RatingAnswer:
    """How often one follow-up answer was chosen for a service."""

    service: str
    label: str
    positive: bool  # "Quali sono stati gli aspetti che hai preferito?" (4-5 stars), else the difficulties (1-3)
    answer: str
    count: int


def _summary(svc: str, label: str, rows: list[Any], page: str = "") -> RatingSummary:
    counts: dict[str, int] = {}
    for r in rows:
        for key in r.reasons or []:
            text = (POSITIVE if r.stars > 3 else NEGATIVE).get(key, key)
            counts[text] = counts.get(text, 0) + 1
    return RatingSummary(
        service=svc,
        label=label,
        count=len(rows),
        average=round(sum(r.stars for r in rows) / len(rows), 2),
        distribution={n: sum(1 for r in rows if r.stars == n) for n in range(1, 6)},
        reasons=sorted(counts.items(), key=lambda kv: -kv[1])[:5],
        page=page,
    )


async def _ratings(session: AsyncSession, ente_id: int, since: datetime | None, until: datetime | None) -> list[Any]:
    since = since or utcnow() - timedelta(days=30)
    stmt = select(Rating.service, Rating.page, Rating.stars, Rating.reasons).where(
        Rating.ente_id == ente_id, Rating.created_at >= since
    )
    if until is not None:
        stmt = stmt.where(Rating.created_at < until)
    return list((await session.execute(stmt)).all())


async def rating_summary(
    session: AsyncSession, *, ente_id: int, since: datetime | None = None, until: datetime | None = None
) -> list[RatingSummary]:
    """Per service (and the informative pages as one): how many ratings, the mean, the 1-5 distribution, the
    reasons. Default period: the last 30 days."""
    rows = await _ratings(session, ente_id, since, until)
    return [
        _summary(svc, label, mine) for svc, label in SERVICES.items() if (mine := [r for r in rows if r.service == svc])
    ]


def _page_label(page: str) -> str:
    return page.split("?", 1)[0].strip() or "/"


async def rating_figures(session: AsyncSession, *, ente_id: int, period: Any, pages: int = 20) -> dict[str, Any]:
    """The console dashboard's figure (``period``: ``crm.reports.service.Period``): per service, per informative
    page (the ``pages`` most rated), the follow-up answers counted, and the total."""
    rows = await _ratings(session, ente_id, period.since, period.until)
    services = [
        _summary(svc, label, mine) for svc, label in SERVICES.items() if (mine := [r for r in rows if r.service == svc])
    ]
    by_page: dict[str, list[Any]] = {}
    for r in rows:
        if r.service == "":
            by_page.setdefault(_page_label(r.page), []).append(r)
    page_rows = sorted(
        (_summary("", SERVICES[""], mine, page=page) for page, mine in by_page.items()),
        key=lambda x: (-x.count, x.page),
    )[:pages]
    answers: list[RatingAnswer] = []
    for svc, label in SERVICES.items():
        for positive, texts in ((True, POSITIVE), (False, NEGATIVE)):
            counts = {key: 0 for key in texts}
            for r in rows:
                if r.service == svc and (r.stars > 3) == positive:
                    for key in r.reasons or []:
                        if key in counts:
                            counts[key] += 1
            answers += [
                RatingAnswer(service=svc, label=label, positive=positive, answer=texts[key], count=n)
                for key, n in sorted(counts.items(), key=lambda kv: -kv[1])
                if n
            ]
    total = _summary("*", "Totale", rows) if rows else None
    return {"services": services, "pages": page_rows, "answers": answers, "total": total}


async def comments(session: AsyncSession, *, ente_id: int, limit: int = 10) -> list[Rating]:
    return list(
        (
            await session.scalars(
                select(Rating)
                .where(Rating.ente_id == ente_id, Rating.comment != "")
                .order_by(Rating.id.desc())
                .limit(limit)
            )
        ).all()
    )


# --- drafts ---------------------------------------------------------------------------------------------------------
async def get_draft(session: AsyncSession, *, ente_id: int, contact_id: int, type_slug: str) -> Draft | None:
    return await session.scalar(
        select(Draft).where(Draft.ente_id == ente_id, Draft.contact_id == contact_id, Draft.type_slug == type_slug)
    )


async def save_draft(
    session: AsyncSession, *, ente_id: int, contact_id: int, type_slug: str, step: int, data: dict[str, Any]
) -> Draft:
    d = await get_draft(session, ente_id=ente_id, contact_id=contact_id, type_slug=type_slug)
    if d is None:
        d = Draft(ente_id=ente_id, contact_id=contact_id, type_slug=type_slug, step=step, data=data)
        session.add(d)
    else:
        d.step, d.data = step, {**(d.data or {}), **data}
        d.updated_at = utcnow()
    await session.flush()
    return d


async def drafts_of(session: AsyncSession, *, ente_id: int, contact_id: int) -> list[Draft]:
    return list(
        (
            await session.scalars(
                select(Draft)
                .where(Draft.ente_id == ente_id, Draft.contact_id == contact_id)
                .order_by(Draft.updated_at.desc())
            )
        ).all()
    )


async def delete_draft(session: AsyncSession, *, ente_id: int, contact_id: int, type_slug: str) -> None:
    await session.execute(
        delete(Draft).where(Draft.ente_id == ente_id, Draft.contact_id == contact_id, Draft.type_slug == type_slug)
    )


# --- bookings in progress ------------------------------------------------------------------------------------------
BOOKING_DRAFT_TTL = timedelta(hours=2)


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def save_booking_draft(
    session: AsyncSession,
    *,
    ente_id: int,
    browser: str,
    service_slug: str,
    reason: str,
    from_page: bool,
    token: str | None = None,
) -> str:
    """Start (or, with the token of this browser's draft, update) a booking in progress; returns its token."""
    now = utcnow()
    await session.execute(delete(BookingDraft).where(BookingDraft.expires_at < now))
    row = await get_booking_draft(session, ente_id=ente_id, browser=browser, token=token) if token else None
    if row is None:
        token = secrets.token_urlsafe(18)
        row = BookingDraft(ente_id=ente_id, token_hash=_sha(token), browser_hash=_sha(browser))
        session.add(row)
    assert token is not None
    row.service_slug, row.reason, row.from_page = service_slug[:80], reason[:500], from_page
    row.expires_at = now + BOOKING_DRAFT_TTL
    await session.flush()
    return token


async def get_booking_draft(
    session: AsyncSession, *, ente_id: int, browser: str, token: str | None
) -> BookingDraft | None:
    """This browser's booking in progress, or None (unknown, expired, or another browser's link)."""
    if not token:
        return None
    row = await session.scalar(
        select(BookingDraft).where(BookingDraft.ente_id == ente_id, BookingDraft.token_hash == _sha(token))
    )
    if row is None or row.expires_at <= utcnow() or row.browser_hash != _sha(browser):
        return None
    return row


async def delete_booking_draft(session: AsyncSession, *, ente_id: int, token: str) -> None:
    await session.execute(
        delete(BookingDraft).where(BookingDraft.ente_id == ente_id, BookingDraft.token_hash == _sha(token))
    )


# --- segnalazioni ---------------------------------------------------------------------------------------------------
def report_file_problems(files: list[tuple[str, str, bytes]], max_bytes: int) -> dict[str, str]:
    fields: dict[str, str] = {}
    if len(files) > MAX_REPORT_FILES:
        fields["files"] = f"al massimo {MAX_REPORT_FILES} file"
    for i, (_, ctype, body) in enumerate(files):
        problem = file_problem(ctype, body, max_bytes)
        if problem is not None:
            fields[f"files.{i}"] = {
                "empty": "file vuoto",
                "too large": "file troppo grande",
                "type not allowed": "sono ammessi solo PDF, JPEG, PNG o WebP",
            }[problem[1]]
    return fields


async def add_report_details(
    session: AsyncSession,
    *,
    ente_id: int,
    ticket_id: int,
    category: str,
    address: str,
    latitude: float | None,
    longitude: float | None,
    files: list[tuple[str, str, bytes]],
    store: FileStore,
) -> None:
    session.add(
        ReportPlace(
            ente_id=ente_id,
            ticket_id=ticket_id,
            category=category,
            address=address[:300],
            latitude=latitude,
            longitude=longitude,
        )
    )
    for filename, ctype, body in files:
        digest = hashlib.sha256(body).hexdigest()
        key = f"reports/{ente_id}/{ticket_id}/{digest}"
        store.write(key, body)
        session.add(
            ReportFile(
                ente_id=ente_id,
                ticket_id=ticket_id,
                filename=re.sub(r"[^\w.\- ]", "_", filename)[:200] or "allegato",
                content_type=ctype,
                size=len(body),
                sha256=digest,
                storage_key=key,
            )
        )
    await session.flush()


async def report_details(session: AsyncSession, *, ticket_id: int) -> tuple[ReportPlace | None, list[ReportFile]]:
    place = await session.scalar(select(ReportPlace).where(ReportPlace.ticket_id == ticket_id))
    files = list(
        (
            await session.scalars(select(ReportFile).where(ReportFile.ticket_id == ticket_id).order_by(ReportFile.id))
        ).all()
    )
    return place, files


async def count_ratings(session: AsyncSession, *, ente_id: int) -> int:
    return int(await session.scalar(select(func.count()).select_from(Rating).where(Rating.ente_id == ente_id)) or 0)
