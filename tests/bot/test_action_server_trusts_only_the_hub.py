"""Issue 18, fixed first: the action server answered anyone. It listened on 0.0.0.0:5055 without authentication and
trusted the contact id in the posted tracker, so `POST /webhook` running `action_list_appointments` with
`metadata.contact_id=<someone>` returned that citizen's bookings and codes (and `action_cancel_appointment` with a
booking id in the slots cancelled it). Now the hub signs each turn (channels/turn_token.py) and every action runs
only for a turn that verifies; the server listens on loopback; Rasa is on loopback and needs its token in production.

The real action server and the real CRM over HTTP; no Rasa, no trained model."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from channels.turn_token import AUDIENCE, METADATA_KEY, Turn, sender_of
from crm.config import Settings
from tests.bookings.test_bookings import next_weekday, setup_service, slots
from tests.bot.action_server import LOOPBACK, action_server, call, call_as, listening, said, signed
from tests.conftest import ACTIONS_SECRET, ROOT, EnteCtx, Server, make_ente


@dataclass
class Citizen:
    ente: EnteCtx
    contact_id: int
    booking: dict[str, Any]
    request_code: str
    turn: Turn


@pytest.fixture(scope="module")
def citizen(server: Server, db: Any) -> Citizen:
    """A citizen of a fresh ente with a confirmed booking and a report."""
    ente = make_ente(db)
    with httpx.Client(base_url=server.url, timeout=30) as c:
        svc = setup_service(c, ente)
        h = ente.headers("service")
        cid = c.post(
            "/api/v1/contacts",
            headers=ente.headers("operator"),
            json={"first_name": "Ada", "last_name": "Lovelace", "phones": ["+39 345 1234567"]},
        ).json()["id"]
        start = slots(c, ente, svc, next_weekday(3))[0]["start"]
        r = c.post(
            "/api/v1/bookings",
            headers=h,
            json={"service_id": svc["id"], "start": start, "contact_id": cid, "fields": {"first_name": "Ada"}},
        )
        assert r.status_code == 201, r.text
        t = c.post(
            "/api/v1/requests",
            headers=h,
            json={
                "contact_id": cid,
                "kind": "report",
                "topic": "segnalazioni",
                "channel": "telegram",
                "subject": "Lampione spento",
                "description": "via Roma 3",
                "priority": "media",
            },
        )
        assert t.status_code == 201, t.text
    return Citizen(
        ente=ente,
        contact_id=cid,
        booking=r.json(),
        request_code=t.json()["code"],
        turn=Turn(conversation_id=990_001, contact_id=cid, ente_id=ente.ente_id, channel="telegram"),
    )


@pytest.fixture(scope="module")
def actions_url(server: Server, citizen: Citizen, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("actions-trust") / "actions.log"
    with action_server({"URP_CRM_URL": server.url, "URP_SERVICE_TOKEN": citizen.ente.service_token}, log) as url:
        yield url


def _forged_metadata(c: Citizen) -> dict[str, Any]:
    """What anyone could post before: the ids in clear."""
    return {
        "conversation_id": c.turn.conversation_id,
        "contact_id": c.contact_id,
        "channel": "telegram",
        "ente_id": c.ente.ente_id,
    }


def _claims(c: Citizen, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "aud": AUDIENCE,
        "sub": sender_of(c.turn.conversation_id),
        "iat": now,
        "exp": now + 60,
        "conversation_id": c.turn.conversation_id,
        "contact_id": c.contact_id,
        "ente_id": c.ente.ente_id,
        "channel": "telegram",
        **over,
    }


def _bad_metadata(c: Citizen) -> dict[str, dict[str, Any]]:
    """Every way a turn can fail to come from the hub."""
    return {
        "ids in clear": _forged_metadata(c),
        "no metadata": {},
        "another secret": signed(c.turn, secret="not-the-hubs-secret-0123456789abcdef"),
        "expired": signed(c.turn, now=time.time() - 3600),
        "unsigned (alg none)": {METADATA_KEY: jwt.encode(_claims(c), key=None, algorithm="none")},
        "another audience": {METADATA_KEY: jwt.encode(_claims(c, aud="someone-else"), ACTIONS_SECRET, "HS256")},
        "garbage": {METADATA_KEY: "not.a.token"},
    }


def _every_slot(c: Citizen) -> dict[str, Any]:
    """Slots an attacker would set to make actions act: a request code, a booking to cancel, a booking to make."""
    return {
        "request_code": c.request_code,
        "status_verified": True,
        "cancel_code": c.booking["code"],
        "cancel_booking_id": c.booking["id"],
        "cancel_summary": c.booking["code"],
        "cancel_confirm": True,
        "cancel_owned": True,
        "booking_service_id": c.booking["service_id"],
        "booking_start": c.booking["start"],
        "booking_name": "Mallory Rossi",
        "booking_confirm": True,
        "issue_description": "finta segnalazione",
        "issue_place": "via Finta 1",
        "instance_subject": "x",
        "instance_description": "y",
    }


def test_a_turn_that_did_not_come_through_the_hub_gets_nothing(
    actions_url: str, citizen: Citizen, server: Server
) -> None:
    names = [a["name"] for a in httpx.get(actions_url.replace("/webhook", "/actions"), timeout=10).json()]
    assert "action_list_appointments" in names and "validate_cancel_form" in names
    for label, metadata in _bad_metadata(citizen).items():
        for name in names:
            body = call(
                actions_url,
                name,
                f"{citizen.request_code} {citizen.booking['code']}",
                "inform",
                metadata=metadata,
                sender=sender_of(citizen.turn.conversation_id),
                slots=_every_slot(citizen),
                active_loop=name.removeprefix("validate_") if name.startswith("validate_") else None,
            )
            assert body["responses"] == [] and body["events"] == [], (label, name, body)
    # and nothing happened in the back office: the booking stands, no report or istanza was filed
    h = citizen.ente.headers("service")
    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.get(f"/api/v1/bookings/{citizen.booking['id']}", headers=h).json()["status"] == "confirmed"
        assert c.get("/api/v1/requests", headers=h, params={"contact_id": citizen.contact_id}).json()["total"] == 1
        assert c.get("/api/v1/instances", headers=h, params={"contact_id": citizen.contact_id}).json()["total"] == 0


def test_the_listing_that_leaked_bookings(actions_url: str, citizen: Citizen) -> None:
    """The issue's probe: contact id in the metadata, no token. Then the same with the hub's token."""
    forged = call(
        actions_url,
        "action_list_appointments",
        "che appuntamenti ho?",
        "list_appointments",
        metadata=_forged_metadata(citizen),
        sender="conv-1",
    )
    assert citizen.booking["code"] not in str(forged)
    mine = call_as(actions_url, citizen.turn, "action_list_appointments", "che appuntamenti ho?", "list_appointments")
    assert citizen.booking["code"] in said(mine)


def test_a_token_is_good_for_its_own_conversation_only(actions_url: str, citizen: Citizen) -> None:
    # a token minted for this citizen's conversation, replayed in another conversation's tracker
    body = call(
        actions_url,
        "action_check_status",
        citizen.request_code,
        "check_status",
        metadata=signed(citizen.turn),
        sender=sender_of(citizen.turn.conversation_id + 1),
        slots={"request_code": citizen.request_code},
    )
    assert body["responses"] == [] and body["events"] == []
    body = call_as(
        actions_url,
        citizen.turn,
        "action_check_status",
        citizen.request_code,
        "check_status",
        slots={"request_code": citizen.request_code},
    )
    assert citizen.request_code in said(body) and "ricevuta" in said(body)


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc/net/tcp")
def test_the_action_server_listens_on_loopback_only(actions_url: str) -> None:
    port = int(actions_url.split(":")[-1].split("/")[0])
    addresses = listening(port)
    assert addresses and addresses <= LOOPBACK, addresses


def test_rasa_refuses_to_start_in_production_without_its_token() -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("URP_", "RASA_"))}, "URP_ENV": "production"}
    out = subprocess.run(
        ["bash", "scripts/rasa_run.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode != 0 and "URP_RASA_TOKEN" in out.stderr


def test_the_action_server_refuses_to_start_in_production_without_the_secret() -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("URP_")}, "URP_ENV": "production"}
    out = subprocess.run(
        [".venv/bin/python", "-c", "import actions"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode != 0 and "URP_ACTIONS_SECRET" in out.stderr


def test_production_needs_the_rasa_token_and_the_turn_secret() -> None:
    base = {
        "env": "production",
        "public_url": "https://urp.example.it",
        "secret_key": "k" * 40,
        "service_token": "s" * 40,
    }
    with pytest.raises(RuntimeError, match="URP_RASA_TOKEN") as err:
        Settings(**base).check_production()
    assert "URP_ACTIONS_SECRET" in str(err.value)
    Settings(**base, rasa_token="r" * 40, actions_secret="a" * 40).check_production()
