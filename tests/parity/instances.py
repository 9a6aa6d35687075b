"""Parity scenarios of istanze: the API (filing, decisions, attachments, look-up, types and reference lists), the
back office's page and the phone intake."""

from __future__ import annotations

from typing import Any

from tests.parity.bookings import contact
from tests.parity.harness import Harness, Perform, scenario

PDF = b"%PDF-1.4\n% parity\n" + b"0" * 200


def instance_type(h: Harness) -> str:
    from crm.instances import service as instances
    from crm.instances.schemas import InstanceTypeIn

    slug = h.unique("tipo")

    async def work(s: Any) -> None:
        await instances.create_type(
            s,
            ente_id=h.ente.ente_id,
            data=InstanceTypeIn(
                slug=slug,
                title="Accesso agli atti",
                form_schema={
                    "type": "object",
                    "properties": {"oggetto": {"type": "string", "minLength": 1}},
                    "required": ["oggetto"],
                },
            ),
        )

    h.setup(work)
    return slug


def instance(h: Harness, *, status: str = "protocolled") -> dict[str, Any]:
    """An istanza filed by the assistant (protocolled at once by the local register), moved to ``status``."""
    from crm.instances import service as instances
    from crm.instances.protocol import LocalRegister
    from crm.instances.schemas import InstanceIn

    slug, cid = instance_type(h), contact(h)

    async def work(s: Any) -> dict[str, Any]:
        inst = await instances.submit(
            s,
            principal=h.principal("service"),
            adapter=LocalRegister(),
            data=InstanceIn(type=slug, contact_id=cid, data={"oggetto": "Delibera 12"}),
        )
        if status == "in_charge":
            await instances.transition(
                s, principal=h.principal("backoffice"), instance_id=inst.id, to="in_charge", note=""
            )
        return {"id": inst.id, "code": inst.code, "contact_id": cid}

    return h.setup(work)


def reference_item(h: Harness) -> tuple[str, str]:
    from crm.instances import service as instances
    from crm.instances.schemas import ReferenceItemIn

    value = h.unique("assoc")

    async def work(s: Any) -> None:
        await instances.add_reference(
            s,
            ente_id=h.ente.ente_id,
            list_slug="albo-associazioni",
            data=ReferenceItemIn(value=value, label="Pro Loco"),
        )

    h.setup(work)
    return "albo-associazioni", value


@scenario("POST", "/api/v1/instances", "service")
def api_submit(h: Harness) -> Perform:
    return h.api(
        "POST",
        "/api/v1/instances",
        "service",
        json={"type": instance_type(h), "contact_id": contact(h), "data": {"oggetto": "Verbale"}},
    )


@scenario("POST", "/api/v1/instances/<instance_id:int>/transition", "backoffice")
def api_transition(h: Harness) -> Perform:
    return h.api("POST", f"/api/v1/instances/{instance(h)['id']}/transition", "backoffice", json={"to": "in_charge"})


@scenario("POST", "/api/v1/instances/<instance_id:int>/attachments", "service")
def api_attach(h: Harness) -> Perform:
    return h.api(
        "POST",
        f"/api/v1/instances/{instance(h)['id']}/attachments",
        "service",
        files={"file": ("integrazione.pdf", PDF, "application/pdf")},
    )


@scenario("POST", "/api/v1/instances/lookup", "service", audit=1, events=0)
def api_lookup(h: Harness) -> Perform:
    inst = instance(h)

    async def work(s: Any) -> str:
        from crm.contacts import service as contacts

        return (await contacts.get(s, ente_id=h.ente.ente_id, contact_id=inst["contact_id"])).phones[0].e164[-4:]

    return h.api(
        "POST", "/api/v1/instances/lookup", "service", json={"code": inst["code"], "second_factor": h.setup(work)}
    )


@scenario("POST", "/api/v1/instance-types", "admin")
def api_create_type(h: Harness) -> Perform:
    return h.api("POST", "/api/v1/instance-types", "admin", json={"slug": h.unique("tipo"), "title": "Contributi"})


@scenario("PATCH", "/api/v1/instance-types/<slug:str>", "admin")
def api_update_type(h: Harness) -> Perform:
    return h.api("PATCH", f"/api/v1/instance-types/{instance_type(h)}", "admin", json={"deadline_days": 45})


@scenario("DELETE", "/api/v1/instance-types/<slug:str>", "admin")
def api_deactivate_type(h: Harness) -> Perform:
    return h.api("DELETE", f"/api/v1/instance-types/{instance_type(h)}", "admin")


@scenario("POST", "/api/v1/reference-lists/<list_slug:str>", "admin")
def api_add_reference(h: Harness) -> Perform:
    return h.api(
        "POST",
        "/api/v1/reference-lists/albo-associazioni",
        "admin",
        json={"value": h.unique("assoc"), "label": "Circolo"},
    )


@scenario("PATCH", "/api/v1/reference-lists/<list_slug:str>/<value:str>", "admin")
def api_update_reference(h: Harness) -> Perform:
    list_slug, value = reference_item(h)
    return h.api("PATCH", f"/api/v1/reference-lists/{list_slug}/{value}", "admin", json={"label": "Pro Loco APS"})


@scenario("DELETE", "/api/v1/reference-lists/<list_slug:str>/<value:str>", "admin")
def api_deactivate_reference(h: Harness) -> Perform:
    list_slug, value = reference_item(h)
    return h.api("DELETE", f"/api/v1/reference-lists/{list_slug}/{value}", "admin")


@scenario("POST", "/console/instances/<instance_id:int>/transition", "backoffice")
def console_transition(h: Harness) -> Perform:
    return h.console(
        f"/console/instances/{instance(h, status='in_charge')['id']}/transition",
        "backoffice",
        {"to": "accepted", "note": "Accolta"},
    )


@scenario("POST", "/console/intake/<cid:int>/instance", "phone_operator")
def console_intake_instance(h: Harness) -> Perform:
    return h.console(
        f"/console/intake/{contact(h)}/instance",
        "phone_operator",
        {"type": instance_type(h), "oggetto": "Permesso di costruire"},
    )
