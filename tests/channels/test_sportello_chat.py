"""The chat widget on the sportello's pages knows the signed-in citizen: the desk ties the widget's session to the
citizen's contact (POST /sportello/chat/collega), so the assistant, through the real Rasa server and action server
and the hub's signed turn, treats the citizen's own bookings and istanze as theirs (no second factor), while the
same questions from a chat that is not linked still need one. A chat begun before signing in is folded into the
citizen's profile, and its conversation shows in the area personale."""

from __future__ import annotations

import json
import random
import re
import string
import time
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.channels.conftest import Stack

SECOND_FACTOR = "ultime 4 cifre"


def _fiscal_code() -> str:
    letters, digits = string.ascii_uppercase, string.digits
    pick = random.choice
    return "".join(
        [
            *(pick(letters) for _ in range(6)),
            pick(digits),
            pick(digits),
            "A",
            pick(digits),
            pick(digits),
            "H",
            *(pick(digits) for _ in range(3)),
            "U",
        ]
    )


def _signed_in_citizen(stack: Stack, db: Any, fiscal_code: str) -> tuple[str, int]:
    """A citizen session as the desk's sign-in makes it (crm.citizens.service.sign_in, the provider's part is
    tested in tests/sportello): returns the session cookie's value and the contact id."""
    from crm.citizens import service as citizens
    from crm.citizens.oidc import VerifiedIdentity
    from tests.conftest import SECRET

    async def work(s: Any) -> tuple[str, int]:
        ident = VerifiedIdentity(
            subject=fiscal_code,
            fiscal_code=fiscal_code,
            given_name="Carla",
            family_name="Chat",
            email=None,
            phone="+393479876543",
            acr="https://www.spid.gov.it/SpidL2",
            level=2,
            provider="spid",
        )
        signed = await citizens.sign_in(s, ente_id=stack.ente.ente_id, ident=ident, minutes=60)  # type: ignore[attr-defined]
        return citizens.cookie_value(SECRET, signed.sid), signed.contact.id

    return db.run(work)


class Chat:
    """The widget's side of the web channel: one websocket session id, messages in, the comune's replies out."""

    def __init__(self, stack: Stack, session: str) -> None:
        from websockets.sync.client import connect

        self.session = session
        self.ws = connect(stack.crm.url.replace("http", "ws") + "/channels/web/ws", open_timeout=60)
        self.ws.send(json.dumps({"type": "hello", "session": session}))
        assert json.loads(self.ws.recv(timeout=60))["type"] == "history"
        self.replies: list[str] = []
        self.n = 0

    def say(self, text: str, until: str, timeout: float = 90) -> str:
        """Send ``text``; wait for a reply containing ``until`` and return it (every reply is kept)."""
        self.n += 1
        self.ws.send(json.dumps({"type": "message", "text": text, "client_id": f"c{self.n}"}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
            except TimeoutError:
                break
            if event.get("type") == "message" and event.get("author") != "citizen":
                self.replies.append(event.get("text") or "")
                if until in (event.get("text") or ""):
                    return str(event["text"])
        raise AssertionError(f"no reply with {until!r} to {text!r}; replies: {self.replies[-4:]}")

    def close(self) -> None:
        self.ws.close()


def _desk_client(stack: Stack, token: str) -> tuple[httpx.Client, str]:
    """A browser of the signed-in citizen on the desk: its cookies and a form's CSRF token."""
    c = httpx.Client(base_url=stack.crm.url, timeout=30, cookies={"urp_citizen": token})
    page = c.get("/sportello/")
    assert page.status_code == 200 and "Carla Chat" in page.text and 'id="sp-chat-link"' in page.text
    return c, re.search(r'name="csrf" value="([0-9a-f]{40})"', page.text).group(1)  # type: ignore[union-attr]


def test_the_signed_in_citizens_chat_needs_no_second_factor(stack: Stack, db, needs_rasa) -> None:  # type: ignore[no-untyped-def]
    h = stack.ente.headers("admin")  # type: ignore[attr-defined]
    token, contact_id = _signed_in_citizen(stack, db, _fiscal_code())
    with stack.client() as c:
        # the citizen's own booking and istanza, made at the counter (nothing the chat could know by itself)
        loc = c.post("/api/v1/locations", json={"name": "Anagrafe"}, headers=h).json()
        res = c.post("/api/v1/resources", json={"name": "Sportello A", "location_id": loc["id"]}, headers=h).json()
        svc = c.post(
            "/api/v1/services",
            headers=h,
            json={
                "slug": f"anagrafe-chat-{uuid.uuid4().hex[:6]}",
                "code_prefix": "AN",
                "name": "Certificati anagrafici",
                "kind": "multi_resource",
                "slot_minutes": 30,
                "resource_ids": [res["id"]],
                "min_notice_hours": 1,
                "cancel_deadline_hours": 24,
                "max_per_day_per_citizen": 1,
            },
        ).json()
        c.put(
            f"/api/v1/services/{svc['id']}/hours",
            headers=h,
            json={"hours": [{"weekday": d, "start": "09:00", "end": "12:00"} for d in range(7)]},
        )
        today = datetime.now(ZoneInfo("Europe/Rome")).date()
        free = c.get(
            f"/api/v1/services/{svc['id']}/availability",
            headers=h,
            params={"from": (today + timedelta(days=3)).isoformat(), "to": (today + timedelta(days=6)).isoformat()},
        ).json()
        booking = c.post(
            "/api/v1/bookings",
            headers=stack.ente.headers("phone_operator"),
            json={  # type: ignore[attr-defined]
                "service_id": svc["id"],
                "start": free["items"][0]["start"],
                "contact_id": contact_id,
                "on_behalf": True,
                "channel": "counter",
            },
        ).json()
        c.post(
            "/api/v1/instance-types",
            headers=h,
            json={
                "slug": "istanza-generica",
                "title": "Istanza generica",
                "form_schema": {
                    "type": "object",
                    "required": ["subject", "description"],
                    "properties": {"subject": {"type": "string"}, "description": {"type": "string"}},
                },
            },
        )
        inst = c.post(
            "/api/v1/instances",
            headers=stack.ente.headers("operator"),
            json={  # type: ignore[attr-defined]
                "type": "istanza-generica",
                "contact_id": contact_id,
                "channel": "counter",
                "data": {"subject": "Copia delibera", "description": "Chiedo copia della delibera 7/2026."},
            },
        ).json()
        assert "code" in booking and "code" in inst, (booking, inst)

    # a chat that nobody linked: the codes alone are not enough
    stranger = Chat(stack, str(uuid.uuid4()))
    try:
        stranger.say(f"a che punto è la mia pratica {inst['code']}?", until=SECOND_FACTOR)
    finally:
        stranger.close()

    # the widget on the citizen's own browser, begun before signing in, then linked by the desk
    session = str(uuid.uuid4())
    chat = Chat(stack, session)
    try:
        chat.say("sei un bot?", until="assistente virtuale")
        desk, csrf = _desk_client(stack, token)
        try:
            r = desk.post("/sportello/chat/collega", data={"csrf": csrf, "chat_session": session})
            assert r.status_code == 200 and r.json() == {"linked": True}
            # the same answer for a chat session id that is not one
            assert desk.post("/sportello/chat/collega", data={"csrf": csrf, "chat_session": "x"}).status_code == 422
            answer = chat.say(f"com'è messa la mia istanza {inst['code']}?", until=f"L'istanza {inst['code']}")
            assert inst["protocol_number"] in answer
            ask = chat.say(
                "devo disdire il mio appuntamento", until=f"Vuole annullare l'appuntamento {booking['code']}"
            )
            assert "Certificati anagrafici" in ask
            assert not any(SECOND_FACTOR in r for r in chat.replies), chat.replies
            # the conversation the widget began before the sign-in is now in the area personale
            area = desk.get("/sportello/area-personale")
            conv = re.search(r'href="(/sportello/area-personale/conversazioni/\d+)"', area.text)
            assert conv and "chat sul sito" in area.text
            assert "sei un bot?" in desk.get(conv.group(1)).text
        finally:
            desk.close()
    finally:
        chat.close()

    async def check(s: Any) -> tuple[Any, ...]:
        from sqlalchemy import select

        from crm.contacts.models import ContactIdentity

        ident = await s.scalar(
            select(ContactIdentity).where(ContactIdentity.channel == "web", ContactIdentity.external_id == session)
        )
        return (ident.contact_id,)

    assert db.run(check) == (contact_id,)
