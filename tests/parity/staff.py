"""Parity scenarios of staff accounts, offices and topics, and the ente's settings."""

from __future__ import annotations

from typing import Any

from tests.parity.harness import Harness, Perform, scenario

PASSWORD = "una-password-lunga-123"


def operator(h: Harness, role: str = "operator") -> int:
    from crm.operators import service as operators
    from crm.operators.schemas import OperatorIn

    async def work(s: Any) -> int:
        op = await operators.create(
            s,
            ente_id=h.ente.ente_id,
            data=OperatorIn(username=h.unique("op"), password=PASSWORD, role=role, topics=["urp"]),
        )  # type: ignore[arg-type]
        return op.id

    return h.setup(work)


@scenario("POST", "/api/v1/operators", "admin")
def api_create(h: Harness) -> Perform:
    return h.api(
        "POST",
        "/api/v1/operators",
        "admin",
        json={"username": h.unique("op"), "password": PASSWORD, "role": "phone_operator"},
    )


@scenario("PATCH", "/api/v1/operators/<operator_id:int>", "admin")
def api_update(h: Harness) -> Perform:
    return h.api("PATCH", f"/api/v1/operators/{operator(h)}", "admin", json={"topics": ["urp", "anagrafe"]})


@scenario("POST", "/api/v1/offices", "admin")
def api_office(h: Harness) -> Perform:
    return h.api("POST", "/api/v1/offices", "admin", json={"code": h.unique("UT")[:20].upper(), "name": "Tributi"})


@scenario("POST", "/api/v1/topics", "admin")
def api_topic(h: Harness) -> Perform:
    return h.api(
        "POST",
        "/api/v1/topics",
        "admin",
        json={"office_id": h.ente.offices["URP"], "slug": h.unique("tari"), "name": "TARI"},
    )


@scenario("POST", "/console/operators/new", "admin")
def console_create(h: Harness) -> Perform:
    return h.console(
        "/console/operators/new",
        "admin",
        {
            "username": h.unique("op"),
            "full_name": "Marta Bianchi",
            "role": "operator",
            "topics": "urp",
            "password": PASSWORD,
            "password2": PASSWORD,
        },
    )


@scenario("POST", "/console/operators/<operator_id:int>", "admin")
def console_update(h: Harness) -> Perform:
    return h.console(
        f"/console/operators/{operator(h)}",
        "admin",
        {"full_name": "Marta Bianchi", "role": "backoffice", "topics": "anagrafe"},
    )


@scenario("POST", "/console/operators/<operator_id:int>/active", "admin")
def console_active(h: Harness) -> Perform:
    return h.console(f"/console/operators/{operator(h)}/active", "admin", {"active": "0"})


@scenario("POST", "/console/operators/<operator_id:int>/password", "admin")
def console_password(h: Harness) -> Perform:
    return h.console(f"/console/operators/{operator(h)}/password", "admin", {"genera": "1"})


@scenario("POST", "/console/settings/hours", "admin")
def console_hours(h: Harness) -> Perform:
    return h.console(
        "/console/settings/hours",
        "admin",
        {"d0_a_from": "08:30", "d0_a_to": "12:30", "d2_a_from": "09:00", "d2_a_to": "13:00", "patron": "29/06"},
    )


@scenario("POST", "/console/settings/chat-sla", "admin")
def console_chat_sla(h: Harness) -> Perform:
    return h.console("/console/settings/chat-sla", "admin", {"minutes": "10", f"t{h.ente.topics['anagrafe']}": "20"})
