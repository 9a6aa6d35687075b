"""SMS through Twilio at its edges: the webhook as Twilio really signs it (blank parameters included), and long
replies split into many parts, each sent once and each traceable by its SID."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import httpx
from twilio.request_validator import RequestValidator

from tests.channels.conftest import TWILIO_FROM, TWILIO_SID, TWILIO_TOKEN, Stack
from tests.channels.test_attachments import image
from tests.conftest import DB

_n = iter(range(10**9))


def _phone() -> str:
    return f"+39348{next(_n) % 10**7:07d}"


def _signed_post(stack: Stack, path: str, params: dict[str, str]) -> httpx.Response:
    url = stack.crm.url + path
    sig = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    return httpx.post(url, data=params, headers={"X-Twilio-Signature": sig}, timeout=60)


def _inbound(number: str, body: str, sid: str, **extra: str) -> dict[str, str]:
    # what Twilio sends for an Italian number: the US-only location fields are there, and empty
    return {
        "ToCountry": "IT",
        "ToState": "",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": "IT",
        "To": TWILIO_FROM,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": "AC" + "1" * 32,
        "From": number,
        "ApiVersion": "2010-04-01",
        **extra,
    }


def _stored_inbound(stack: Stack, sid: str) -> list[dict[str, object]]:
    from sqlalchemy import select

    from crm.conversations.models import Message

    async def get(s):  # type: ignore[no-untyped-def]
        rows = (
            await s.scalars(select(Message).where(Message.channel == "sms", Message.channel_message_id == sid))
        ).all()
        return [{"text": m.text, "attachments": m.attachments, "direction": m.direction} for m in rows]

    return DB(stack.crm.env["URP_DATABASE_URL"]).run(get)


def test_inbound_sms_with_blank_parameters_is_accepted_and_stored(stack: Stack) -> None:
    """Twilio signs every parameter it posts, blank ones too: dropping them broke the signature of most real SMS."""
    number, sid = _phone(), f"SM{uuid.uuid4().hex}"
    r = _signed_post(stack, "/channels/twilio/sms", _inbound(number, "buongiorno", sid))
    assert r.status_code == 200, r.text
    assert [m["text"] for m in _stored_inbound(stack, sid)] == ["buongiorno"]
    # a photo-only MMS has an empty Body: accepted too, the picture kept as an attachment
    mms = f"MM{uuid.uuid4().hex}"
    path = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/{mms}/Media/ME{uuid.uuid4().hex}"
    stack.twilio.media[path] = (image("JPEG"), "image/jpeg")  # the hub fetches it from (fake) Twilio's API
    r = _signed_post(
        stack,
        "/channels/twilio/sms",
        _inbound(number, "", mms, NumMedia="1", MediaUrl0=stack.twilio.url + path, MediaContentType0="image/jpeg"),
    )
    assert r.status_code == 200, r.text
    stored = _stored_inbound(stack, mms)
    deadline = time.monotonic() + 30
    while any(a.get("pending") for m in stored for a in m["attachments"]) and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.2)  # fetched after the webhook was answered (channels.media)
        stored = _stored_inbound(stack, mms)
    assert len(stored) == 1 and stored[0]["text"] == ""
    [kept] = stored[0]["attachments"]
    assert kept["content_type"] == "image/jpeg" and "refused" not in kept, kept
    # and a forged signature is still refused, blank parameters or not
    params = _inbound(number, "ciao", f"SM{uuid.uuid4().hex}")
    r = httpx.post(
        stack.crm.url + "/channels/twilio/sms",
        data=params,
        headers={
            "X-Twilio-Signature": RequestValidator("wrong").compute_signature(
                stack.crm.url + "/channels/twilio/sms", params
            )
        },
        timeout=60,
    )
    assert r.status_code == 403


def _operator_conversation(stack: Stack, number: str) -> int:
    """An SMS conversation taken by an operator (so the operator's replies go out by SMS)."""
    assert (
        _signed_post(stack, "/channels/twilio/sms", _inbound(number, "buongiorno", f"SM{uuid.uuid4().hex}")).status_code
        == 200
    )
    h = stack.ente.headers("operator")  # type: ignore[attr-defined]
    with stack.client() as c:
        cid = c.get("/api/v1/contacts", params={"q": number[3:]}, headers=h).json()["items"][0]["id"]
        conv_id = c.get("/api/v1/conversations", params={"contact_id": cid, "channel": "sms"}, headers=h).json()[
            "items"
        ][0]["id"]
        c.post(f"/api/v1/conversations/{conv_id}/handoff", json={}, headers=h)
        assert c.post(f"/api/v1/conversations/{conv_id}/take", headers=h).status_code == 200
    return conv_id


def _message(stack: Stack, message_id: int) -> dict[str, object]:
    from crm.conversations.models import Message

    async def get(s):  # type: ignore[no-untyped-def]
        m = await s.get(Message, message_id)
        return {
            "status": m.delivery_status,
            "attempts": m.delivery_attempts,
            "next": m.next_attempt_at,
            "provider_id": m.channel_message_id,
            "error": m.delivery_error,
        }

    return DB(stack.crm.env["URP_DATABASE_URL"]).run(get)


def _wait_status(stack: Stack, message_id: int, statuses: tuple[str, ...], timeout: float = 20) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        m = _message(stack, message_id)
        if m["status"] in statuses or time.monotonic() > deadline:
            return m
        time.sleep(0.2)


def test_a_long_reply_goes_out_in_parts_once_and_each_part_is_traced(stack: Stack) -> None:
    """A 3,900-character operator reply is 13+ SMS parts: their joined SIDs overflowed the 200-character column on
    PostgreSQL, the status update failed, and the message was sent again at every lease (30 SMS in 5.5 minutes)."""
    from channels.twilio_sms import split_text

    number = _phone()
    conv_id = _operator_conversation(stack, number)
    sentence = "La informiamo che la pratica è in lavorazione presso l'ufficio tributi del Comune. "
    long_text = (sentence * 60)[:3900].strip()
    # on SMS the operator's name is said in words before the reply (they have no full name here: the username)
    parts = split_text(f"{stack.ente.usernames['operator']} dell'URP: {long_text}")  # type: ignore[attr-defined]
    assert len(parts) >= 13
    with stack.client() as c:
        r = c.post(
            f"/api/v1/conversations/{conv_id}/messages",
            json={"text": long_text},
            headers=stack.ente.headers("operator"),
        )  # type: ignore[attr-defined]
        assert r.status_code == 201, r.text
        mid = r.json()["id"]
    m = _wait_status(stack, mid, ("sent", "failed"))
    assert m["status"] == "sent", m
    got = [r for r in stack.twilio.requests if r.get("To") == number and r.get("Body") in parts]
    assert [r["Body"] for r in got] == parts
    assert m["provider_id"] == got[0]["sid"]
    # Twilio reports delivery per part: the last part's SID still finds the message
    r = _signed_post(
        stack,
        "/channels/twilio/status",
        {"MessageSid": got[-1]["sid"], "MessageStatus": "delivered", "AccountSid": "AC" + "1" * 32},
    )
    assert r.status_code == 204
    assert _message(stack, mid)["status"] == "delivered"
    # the retry job runs every 0.5 s in this stack: nothing goes out again
    time.sleep(2)
    assert len([r for r in stack.twilio.requests if r.get("To") == number and r.get("Body") in parts]) == len(parts)


def test_a_message_whose_outcome_could_not_be_recorded_is_not_sent_forever(stack: Stack) -> None:
    """A message left pending after MAX_ATTEMPTS sends (its status update kept failing) is marked failed for the
    operators to see, not sent once more at every lease."""
    from sqlalchemy import update

    from channels.hub import MAX_ATTEMPTS
    from crm.conversations.models import Message
    from crm.db import utcnow

    number = _phone()
    conv_id = _operator_conversation(stack, number)
    with stack.client() as c:
        r = c.post(
            f"/api/v1/conversations/{conv_id}/messages",
            json={"text": "Risposta già inviata più volte."},
            headers=stack.ente.headers("operator"),
        )  # type: ignore[attr-defined]
        mid = r.json()["id"]
    assert _wait_status(stack, mid, ("sent",))["status"] == "sent"

    async def stuck(s):  # type: ignore[no-untyped-def]
        # what a failing status update left behind: still pending, lease expired, every attempt spent
        await s.execute(
            update(Message)
            .where(Message.id == mid)
            .values(
                delivery_status="pending",
                delivery_attempts=MAX_ATTEMPTS,
                next_attempt_at=utcnow() - timedelta(seconds=1),
            )
        )

    DB(stack.crm.env["URP_DATABASE_URL"]).run(stuck)
    m = _wait_status(stack, mid, ("failed",), timeout=10)
    assert m["status"] == "failed" and m["next"] is None, m
    time.sleep(1)
    assert (
        len(
            [
                r
                for r in stack.twilio.requests
                if r.get("To") == number and (r.get("Body") or "").endswith("Risposta già inviata più volte.")
            ]
        )
        == 1
    )
