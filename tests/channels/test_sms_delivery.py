"""SMS through Twilio at its edges: the webhook as Twilio really signs it (blank parameters included), and long
replies split into many parts, each sent once and each traceable by its SID."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import httpx
from twilio.request_validator import RequestValidator

from tests.channels.conftest import TWILIO_FROM, TWILIO_TOKEN, Stack
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
    return {"ToCountry": "IT", "ToState": "", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "", "FromZip": "",
            "SmsSid": sid, "FromState": "", "SmsStatus": "received", "FromCity": "", "Body": body,
            "FromCountry": "IT", "To": TWILIO_FROM, "ToZip": "", "NumSegments": "1", "MessageSid": sid,
            "AccountSid": "AC" + "1" * 32, "From": number, "ApiVersion": "2010-04-01", **extra}


def _stored_inbound(stack: Stack, sid: str) -> list[dict[str, object]]:
    from sqlalchemy import select

    from crm.conversations.models import Message

    async def get(s):  # type: ignore[no-untyped-def]
        rows = (await s.scalars(select(Message).where(Message.channel == "sms",
                                                      Message.channel_message_id == sid))).all()
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
    r = _signed_post(stack, "/channels/twilio/sms", _inbound(number, "", mms, NumMedia="1",
                                                             MediaUrl0="https://api.twilio.com/media/ME1",
                                                             MediaContentType0="image/jpeg"))
    assert r.status_code == 200, r.text
    stored = _stored_inbound(stack, mms)
    assert len(stored) == 1 and stored[0]["attachments"] == [
        {"url": "https://api.twilio.com/media/ME1", "content_type": "image/jpeg"}]
    # and a forged signature is still refused, blank parameters or not
    params = _inbound(number, "ciao", f"SM{uuid.uuid4().hex}")
    r = httpx.post(stack.crm.url + "/channels/twilio/sms", data=params,
                   headers={"X-Twilio-Signature": RequestValidator("wrong").compute_signature(
                       stack.crm.url + "/channels/twilio/sms", params)}, timeout=60)
    assert r.status_code == 403
