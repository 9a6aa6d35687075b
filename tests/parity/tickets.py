"""Parity scenarios of requests (tickets): the API, the console's requests desk and the phone intake."""

from __future__ import annotations

from typing import Any

from tests.parity.bookings import contact
from tests.parity.harness import Harness, Perform, scenario


def ticket(h: Harness, *, status: str = "new") -> int:
    """A request on the "urp" topic (assigned automatically), moved to ``status``."""
    from crm.tickets import service as tickets
    from crm.tickets.schemas import TicketIn

    cid = contact(h)

    async def work(s: Any) -> int:
        t = await tickets.create(
            s,
            principal=h.principal("operator"),
            data=TicketIn(contact_id=cid, kind="information", topic="urp", subject="Orari dell'anagrafe"),
        )
        if status != "new":
            await tickets.transition(s, principal=h.principal("operator"), ticket_id=t.id, to=status, note="")
        return t.id

    return h.setup(work)


@scenario("POST", "/api/v1/requests", "service")
def api_open(h: Harness) -> Perform:
    return h.api(
        "POST",
        "/api/v1/requests",
        "service",
        json={"contact_id": contact(h), "kind": "report", "topic": "segnalazioni", "subject": "Buca"},
    )


@scenario("POST", "/api/v1/requests/<ticket_id:int>/transition", "backoffice")
def api_transition(h: Harness) -> Perform:
    return h.api("POST", f"/api/v1/requests/{ticket(h)}/transition", "backoffice", json={"to": "in_charge"})


@scenario("POST", "/api/v1/requests/<ticket_id:int>/assign", "admin")
def api_assign(h: Harness) -> Perform:
    return h.api(
        "POST", f"/api/v1/requests/{ticket(h)}/assign", "admin", json={"operator_id": h.ente.operator_ids["operator2"]}
    )


@scenario("POST", "/api/v1/requests/<ticket_id:int>/priority", "operator")
def api_priority(h: Harness) -> Perform:
    return h.api("POST", f"/api/v1/requests/{ticket(h)}/priority", "operator", json={"priority": "alta"})


@scenario("POST", "/api/v1/requests/<ticket_id:int>/notes", "operator")
def api_note(h: Harness) -> Perform:
    return h.api("POST", f"/api/v1/requests/{ticket(h)}/notes", "operator", json={"note": "Richiamato"})


DESK = "/console/requests/<ticket_id:int>/<action:str>"


@scenario("POST", DESK, "operator", variant="take")
def console_take(h: Harness) -> Perform:
    return h.console(f"/console/requests/{ticket(h)}/take", "operator")


@scenario("POST", DESK, "admin", variant="assign")
def console_assign(h: Harness) -> Perform:
    return h.console(
        f"/console/requests/{ticket(h)}/assign", "admin", {"operator_id": h.ente.operator_ids["operator2"]}
    )


@scenario("POST", DESK, "backoffice", variant="priority")
def console_priority(h: Harness) -> Perform:
    return h.console(f"/console/requests/{ticket(h)}/priority", "backoffice", {"priority": "bassa"})


@scenario("POST", DESK, "operator", variant="status")
def console_status(h: Harness) -> Perform:
    return h.console(
        f"/console/requests/{ticket(h, status='in_charge')}/status",
        "operator",
        {"to": "resolved", "note": "Risposto al telefono"},
    )


@scenario("POST", DESK, "operator", variant="note")
def console_note(h: Harness) -> Perform:
    return h.console(f"/console/requests/{ticket(h)}/note", "operator", {"note": "Da richiamare"})


@scenario("POST", "/console/requests/<ticket_id:int>/files", "phone_operator")
def console_request_files(h: Harness) -> Perform:
    pdf = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
    return h.console(
        f"/console/requests/{ticket(h)}/files",
        "phone_operator",
        files=[("files", ("ricevuta.pdf", pdf, "application/pdf"))],
    )


@scenario("POST", "/console/intake/<cid:int>/request", "phone_operator")
def console_intake_request(h: Harness) -> Perform:
    return h.console(
        f"/console/intake/{contact(h)}/request",
        "phone_operator",
        {
            "kind": "information",
            "topic": "urp",
            "priority": "media",
            "subject": "Certificato",
            "description": "Chiede come avere un certificato",
        },
    )
