"""Parity scenarios of contacts: the API, the contact's console pages and the phone intake."""

from __future__ import annotations

import itertools
from typing import Any

from tests.parity.bookings import contact
from tests.parity.harness import Harness, Perform, scenario

_n = itertools.count(1)


def phone() -> str:
    return f"+39 347 {next(_n):07d}"


@scenario("POST", "/api/v1/contacts", "operator")
def api_create(h: Harness) -> Perform:
    return h.api("POST", "/api/v1/contacts", "operator", json={"first_name": "Bruno", "phones": [phone()]})


@scenario("PATCH", "/api/v1/contacts/<contact_id:int>", "service")
def api_update(h: Harness) -> Perform:
    return h.api("PATCH", f"/api/v1/contacts/{contact(h)}", "service", json={"consent_notifications": False})


@scenario("POST", "/api/v1/contacts/<contact_id:int>/merge", "phone_operator", audit=2)
def api_merge(h: Harness) -> Perform:
    """Both contacts change: a line (and an event) each."""
    return h.api("POST", f"/api/v1/contacts/{contact(h)}/merge", "phone_operator", json={"source_id": contact(h)})


@scenario("POST", "/api/v1/contacts/<contact_id:int>/erase", "admin")
def api_erase(h: Harness) -> Perform:
    return h.api("POST", f"/api/v1/contacts/{contact(h)}/erase", "admin")


@scenario("POST", "/console/contacts/<contact_id:int>/edit", "operator")
def console_edit(h: Harness) -> Perform:
    return h.console(
        f"/console/contacts/{contact(h)}/edit",
        "operator",
        {
            "first_name": "Ada",
            "last_name": "Rossi",
            "phones": phone(),
            "consent_privacy": "1",
            "consent_notifications": "1",
        },
    )


@scenario("POST", "/console/contacts/<contact_id:int>/merge", "admin", audit=2)
def console_merge(h: Harness) -> Perform:
    return h.console(f"/console/contacts/{contact(h)}/merge", "admin", {"source_id": contact(h)})


@scenario("POST", "/console/contacts/<contact_id:int>/erase", "admin")
def console_erase(h: Harness) -> Perform:
    return h.console(f"/console/contacts/{contact(h)}/erase", "admin", {"conferma": "CANCELLA"})


@scenario("POST", "/console/intake/contacts", "phone_operator")
def console_intake_contact(h: Harness) -> Perform:
    return h.console(
        "/console/intake/contacts",
        "phone_operator",
        {"first_name": "Carla", "last_name": "Neri", "phone": phone(), "consent_privacy": "1"},
    )


@scenario("POST", "/api/v1/contacts/<contact_id:int>/captured", "service")
def api_captured(h: Harness) -> Perform:
    """The assistant's booking form: an empty fiscal code filled, a different first name kept as a conflict."""
    return h.api(
        "POST",
        f"/api/v1/contacts/{contact(h)}/captured",
        "service",
        json={"first_name": "Adele", "last_name": "Parità", "fiscal_code": "RSSMRA85T10A562S"},
    )


def conflict(h: Harness) -> tuple[int, int]:
    """A contact with one conflict to resolve: the citizen gave the assistant another first name."""
    from crm.contacts import identity
    from crm.contacts.schemas import CapturedIn

    cid = contact(h)

    async def work(s: Any) -> int:
        await identity.capture(s, ente_id=h.ente.ente_id, contact_id=cid, data=CapturedIn(first_name="Adele"))
        return (await identity.open_conflicts(s, ente_id=h.ente.ente_id, contact_id=cid))[0].id

    return cid, h.setup(work)


@scenario("POST", "/console/contacts/<contact_id:int>/conflicts/<conflict_id:int>", "operator")
def console_conflict(h: Harness) -> Perform:
    cid, kid = conflict(h)
    return h.console(f"/console/contacts/{cid}/conflicts/{kid}", "operator", {"scelta": "usa"})


@scenario("POST", "/console/contacts/<contact_id:int>/inline", "operator")
def console_inline(h: Harness) -> Perform:
    """The workspace's context panel: name, codice fiscale, phone and e-mail edited in place."""
    return h.console(
        f"/console/contacts/{contact(h)}/inline",
        "operator",
        {"first_name": "Ada", "last_name": "Bianchi", "fiscal_code": "", "phone": phone(), "email": "ada@example.it"},
    )
