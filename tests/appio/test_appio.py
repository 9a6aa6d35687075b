"""App IO through the outbox: a booking's confirmation reaches the citizen's IO app (getProfile, then
submitMessageforUserWithFiscalCodeInBody, validated by the fake IO server against the public contract), with the
appointment as due_date and no personal data in the subject; a citizen who refused the service or is not on IO is
not written to, and the failure is recorded, not retried."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from crm.notifications.appio import AppIoSender, AppIoSettings
from tests.appio.fake_io import FakeIO, validator
from tests.conftest import DB, EnteCtx, is_test_holiday

ALLOWED, REFUSED, ABSENT = "RSSMRA80A01H501U", "VRDGPP75C41F205I", "BNCLCU90E15L219G"


def _open_days(n: int, first: int = 3) -> list[int]:
    """Offsets from today of the next ``n`` days the office is open from ``first`` on: a public holiday closes it
    (the run of 3 December 2026 booked on the 8th, the Immacolata, and was refused)."""
    today = datetime.now(UTC).date()
    days: list[int] = []
    offset = first
    while len(days) < n:
        if not is_test_holiday(today + timedelta(days=offset)):
            days.append(offset)
        offset += 1
    return days


def _book_for(db: DB, ente: EnteCtx, fiscal_code: str, day_offset: int) -> int:
    from crm.bookings import service as bookings
    from crm.bookings.models import Service
    from crm.bookings.schemas import BookingIn, IntervalIn, LocationIn, ResourceIn, ServiceIn
    from crm.contacts import service as contacts
    from crm.contacts.schemas import ContactIn
    from crm.core.auth import Principal

    async def work(s: Any) -> int:
        svc = await s.scalar(select(Service).where(Service.ente_id == ente.ente_id, Service.slug == "io-test"))
        if svc is None:
            loc = await bookings.create_location(s, ente_id=ente.ente_id, data=LocationIn(name="Municipio"))
            res = await bookings.create_resource(
                s, ente_id=ente.ente_id, data=ResourceIn(name="S1", location_id=loc.id)
            )
            svc = await bookings.create_service(
                s,
                ente_id=ente.ente_id,
                data=ServiceIn(
                    slug="io-test",
                    code_prefix="IO",
                    name="Anagrafe",
                    slot_minutes=30,
                    resource_ids=[res.id],
                    max_per_day_per_citizen=5,
                ),
            )
            await bookings.set_hours(
                s,
                ente_id=ente.ente_id,
                service_id=svc.id,
                hours=[IntervalIn(weekday=d, start=time(8), end=time(18)) for d in range(7)],
            )
        c = await contacts.create(
            s,
            ente_id=ente.ente_id,
            data=ContactIn(first_name="Mario", last_name="Rossi", fiscal_code=fiscal_code, emails=["m@example.org"]),
        )
        from zoneinfo import ZoneInfo

        start = datetime.combine(
            datetime.now(UTC).date() + timedelta(days=day_offset), time(10), ZoneInfo("Europe/Rome")
        )
        p = Principal(ente_id=ente.ente_id, role="operator", operator_id=ente.operator_ids["operator"], username="op")
        b, _ = await bookings.book(
            s, principal=p, data=BookingIn(service_id=svc.id, start=start, contact_id=c.id), idempotency_key=None
        )
        return b.id

    return db.run(work)


def test_booking_confirmation_reaches_app_io(db: DB, ente_ctx: EnteCtx) -> None:
    from crm.notifications.models import Notification
    from crm.notifications.service import dispatch_due

    settings = AppIoSettings(app_io_url="http://unused", app_io_keys=f"{ente_ctx.slug}=chiave-di-prova")
    import crm.notifications.appio as appio

    appio.get_app_io_settings.cache_clear()
    import os

    os.environ["URP_APP_IO_KEYS"] = f"{ente_ctx.slug}=chiave-di-prova"
    try:
        citizens = (ALLOWED, REFUSED, ABSENT)
        ids = [_book_for(db, ente_ctx, cf, day) for day, cf in zip(_open_days(3), citizens, strict=True)]
    finally:
        os.environ.pop("URP_APP_IO_KEYS")
        appio.get_app_io_settings.cache_clear()
    with FakeIO("chiave-di-prova", {ALLOWED: True, REFUSED: False}) as io:
        settings.app_io_url = io.url

        async def go(maker: Any) -> int:
            app = SimpleNamespace(ctx=SimpleNamespace(read_sessionmaker=maker))
            return await dispatch_due(maker, {"io": AppIoSender(app, settings)}, ente_id=ente_ctx.ente_id)

        db.call(go)
        assert io.rejected == []
        assert sorted(io.profile_calls) == sorted([ALLOWED, REFUSED, ABSENT])
        assert len(io.messages) == 1
        msg = io.messages[0]
        assert msg["fiscal_code"] == ALLOWED and msg["time_to_live"] == 3600
        content = msg["content"]
        assert content["subject"].startswith("Appuntamento IO-") and "Rossi" not in content["subject"]
        assert "appuntamento confermato" in content["markdown"] and len(content["markdown"]) >= 80
        assert content["due_date"].endswith(".000Z")

    async def rows(s: Any) -> list[tuple[str, str, str | None]]:
        out = (
            await s.execute(
                select(Notification.address, Notification.status, Notification.last_error)
                .where(Notification.ente_id == ente_ctx.ente_id, Notification.channel == "io")
                .order_by(Notification.id)
            )
        ).all()
        return [tuple(r) for r in out]

    got = db.run(rows)
    assert got[0][:2] == (ALLOWED, "sent")
    assert got[1][:2] == (REFUSED, "failed") and "does not allow" in (got[1][2] or "")
    assert got[2][:2] == (ABSENT, "failed") and "not on App IO" in (got[2][2] or "")
    assert len(ids) == 3


def test_the_fake_holds_requests_to_the_real_contract() -> None:
    """The vendored definitions are really applied: what IO refuses, the fake refuses too."""
    good = {
        "time_to_live": 3600,
        "fiscal_code": ALLOWED,
        "content": {"subject": "Appuntamento IO-ABC123", "markdown": "x" * 80, "due_date": "2026-12-01T09:30:00.000Z"},
    }
    new_message = validator("NewMessage")
    assert list(new_message.iter_errors(good)) == []
    for broken in (
        {**good, "content": {**good["content"], "subject": "Breve"}},  # subject < 10
        {**good, "content": {**good["content"], "markdown": "troppo corto"}},  # markdown < 80
        {**good, "content": {**good["content"], "due_date": "2026-12-01T10:30:00+01:00"}},  # not UTC
        {**good, "fiscal_code": "RSSMRA80A01H501"},  # not a fiscal code
        {**good, "time_to_live": 60},  # below 3600
        {"fiscal_code": ALLOWED},
    ):  # no content
        assert list(new_message.iter_errors(broken)), broken
    assert list(validator("LimitedProfile").iter_errors({"preferred_languages": ["it_IT"]}))  # sender_allowed
