"""Parity scenarios of the quick replies (risposte rapide): the API and the console's admin page."""

from __future__ import annotations

from typing import Any

from tests.parity.harness import Harness, Perform, scenario


def quick_reply(h: Harness) -> int:
    from crm.replies import service
    from crm.replies.schemas import QuickReplyIn

    shortcut = h.unique("saluto")

    async def work(s: Any) -> int:
        row = await service.create(
            s, ente_id=h.ente.ente_id, data=QuickReplyIn(shortcut=shortcut, title="Saluto", text="Buongiorno!")
        )
        return row.id

    return int(h.setup(work))


@scenario("POST", "/api/v1/quick-replies", "admin")
def api_create(h: Harness) -> Perform:
    return h.api(
        "POST",
        "/api/v1/quick-replies",
        "admin",
        json={"shortcut": h.unique("orari"), "title": "Orari", "text": "Siamo aperti dalle 8:30."},
    )


@scenario("PATCH", "/api/v1/quick-replies/<reply_id:int>", "admin")
def api_update(h: Harness) -> Perform:
    return h.api("PATCH", f"/api/v1/quick-replies/{quick_reply(h)}", "admin", json={"text": "Buonasera!"})


@scenario("DELETE", "/api/v1/quick-replies/<reply_id:int>", "admin")
def api_delete(h: Harness) -> Perform:
    return h.api("DELETE", f"/api/v1/quick-replies/{quick_reply(h)}", "admin")


@scenario("POST", "/console/replies/new", "admin")
def console_create(h: Harness) -> Perform:
    return h.console(
        "/console/replies/new",
        "admin",
        {"shortcut": h.unique("congedo"), "title": "Congedo", "text": "Buona giornata!", "topic_id": ""},
    )


@scenario("POST", "/console/replies/<reply_id:int>", "admin")
def console_update(h: Harness) -> Perform:
    return h.console(
        f"/console/replies/{quick_reply(h)}",
        "admin",
        {"shortcut": h.unique("saluto"), "title": "Saluto", "text": "Buonasera!", "topic_id": ""},
    )


@scenario("POST", "/console/replies/<reply_id:int>/delete", "admin")
def console_delete(h: Harness) -> Perform:
    return h.console(f"/console/replies/{quick_reply(h)}/delete", "admin")
