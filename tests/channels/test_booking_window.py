"""Booking without traps, end to end on Telegram (the real Rasa, the action server, the CRM): slots are offered from
the minimum notice but online cancellation closes earlier; the assistant offers the slots that can still be cancelled
first, marks the others, warns in the summary before the yes, and the confirmation says how to cancel."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.channels.conftest import Stack
from tests.channels.test_channels import _buttons, _said, tg_update
from tests.conftest import URP_PHONE, working_days

_n = iter(range(10**6))


def _near_day() -> tuple[date, str]:
    """A working day inside a 4-day window, as the citizen writes it."""
    today = datetime.now(ZoneInfo("Europe/Rome")).date()
    d = working_days(2)
    if d == today + timedelta(days=2):
        return d, "dopodomani mattina"
    return d, f"il {d.day}/{d.month} mattina"


def test_a_slot_that_cannot_be_cancelled_online_is_announced_before_the_yes(stack: Stack, needs_rasa: None) -> None:
    h = stack.ente.headers("admin")
    with stack.client() as c:
        loc = c.post("/api/v1/locations", json={"name": "Municipio"}, headers=h).json()
        res = c.post("/api/v1/resources", json={"name": "Sportello 1", "location_id": loc["id"]}, headers=h).json()
        svc = c.post(
            "/api/v1/services",
            headers=h,
            json={
                "slug": f"urbanistica-{next(_n)}",
                "code_prefix": "UR",
                "name": "Colloquio con l'ufficio urbanistica",
                "kind": "multi_resource",
                "slot_minutes": 20,
                "resource_ids": [res["id"]],
                "min_notice_hours": 1,
                "cancel_deadline_hours": 96,
            },
        ).json()
        c.put(
            f"/api/v1/services/{svc['id']}/hours",
            headers=h,
            json={"hours": [{"weekday": d, "start": "09:00", "end": "12:00"} for d in range(7)]},
        )
    user = 990_000 + next(_n)
    # a service of its own (other tests book the carta d'identità in this ente)
    tg_update(stack, user, "vorrei prenotare un appuntamento con l'ufficio urbanistica")
    asked = stack.telegram.wait_for(
        lambda r: r["chat_id"] == user and any(k in (r["text"] or "") for k in ("Quale preferisce", "servizio")),
        timeout=90,
    )
    assert asked, [r["text"] for r in stack.telegram.requests if r["chat_id"] == user]
    if "Quale preferisce" not in asked[0]["text"]:  # other tests' services match too: pick ours
        tg_update(stack, user, callback=svc["slug"])
    offer = _said(stack, user, "Quale preferisce")
    assert offer, [r["text"] for r in stack.telegram.requests if r["chat_id"] == user]
    # the first available: only slots that can still be cancelled online, and the citizen is told why
    assert "che potrà ancora annullare online" in offer[0]["shown"] and "4 giorni prima" in offer[0]["shown"]
    assert offer[0]["parse_mode"] == "HTML"
    assert not [t for t in _buttons(offer[0]) if "non annullabile" in t]

    day, written = _near_day()
    tg_update(stack, user, written)
    warned = _said(stack, user, "Attenzione: gli orari segnati", timeout=90)
    assert warned, [r["text"] for r in stack.telegram.requests if r["chat_id"] == user]
    near = _said(stack, user, "Quale preferisce", count=2)
    assert len(near) >= 2, [r["text"] for r in stack.telegram.requests if r["chat_id"] == user]
    buttons = _buttons(near[-1])
    assert buttons and all(t.endswith("(non annullabile online)") for t in buttons), buttons
    assert all(f"{day:%d/%m}" in t for t in buttons), (day, buttons)
    tg_update(stack, user, callback=next(iter(buttons.values())))
    assert _said(stack, user, "nome e cognome")
    tg_update(stack, user, "Paolo Verdi")
    summary = _said(stack, user, "Riepilogo della prenotazione")
    assert summary, [r["text"] for r in stack.telegram.requests if r["chat_id"] == user]
    assert "Attenzione: questo appuntamento non si potrà annullare online" in summary[0]["shown"]
    assert f"dovrà chiamare l'URP allo {URP_PHONE}" in summary[0]["shown"]
    with stack.client() as c:  # nothing is booked before the yes
        assert not c.get("/api/v1/bookings", params={"service_id": svc["id"]}, headers=h).json()["items"]
    tg_update(stack, user, callback=_buttons(summary[0])["Sì, prenota"])
    done = _said(stack, user, "Appuntamento confermato")
    assert done, [r["text"] for r in stack.telegram.requests if r["chat_id"] == user]
    assert f"non si può annullare online: se non potesse venire, chiami l'URP allo {URP_PHONE}" in done[0]["shown"]
