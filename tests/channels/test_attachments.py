"""Files from citizens and back (issue 15, item 6): photos (JPEG, PNG, WebP) and PDFs sent on the web chat (the widget's
upload), on Telegram (photos and documents, fetched through python-telegram-bot's getFile from the fake Bot API) and
by MMS (Twilio's MediaUrlN, fetched with the account's credentials from the fake Twilio) are checked like an
istanza's attachments (magic number, size, nothing executable), stored with their message, shown to operators
(audited, nosniff) and attachable to the citizen's request or istanza; a file that is refused or cannot be fetched
is explained to the citizen in Italian and the message's words are kept. Operators send files back: the widget shows
them, Telegram gets sendPhoto/sendDocument, SMS refuses in words. Erasure deletes the files.

A CRM server of its own with the fake providers and no Rasa (a message with words is handed off, as when the
assistant is down; a file alone gets the assistant's "file received")."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from tests.browser import axe as run_axe
from tests.browser import browser, browser_pages, require_axe  # noqa: F401  (browser: the module fixture)
from tests.channels.conftest import (
    TG_SECRET,
    TWILIO_FROM,
    TWILIO_SID,
    TWILIO_TOKEN,
    FakeTelegram,
    FakeTwilio,
    fakes_env,
)
from tests.conftest import PASSWORD, EnteCtx, Server, free_port, make_ente, start_server

FILE_RECEIVED = "Ho ricevuto il suo file."
NOT_FETCHED = "Non siamo riusciti a ricevere il file"
SIZES = {"desktop": (1366, 768), "tablet": (768, 1024), "phone": (390, 844)}
_n = iter(range(10**6))


def image(kind: str = "PNG", size: tuple[int, int] = (320, 200), color: str = "#0066cc", note: str = "") -> bytes:
    """A real picture (the browser must draw the thumbnail); ``note`` goes into its metadata (the erasure scan)."""
    from PIL import Image, ImageDraw
    from PIL.PngImagePlugin import PngInfo

    img = Image.new("RGB", size, color)
    ImageDraw.Draw(img).rectangle([20, 20, size[0] - 20, size[1] - 20], outline="#ffffff", width=6)
    out = io.BytesIO()
    if kind == "PNG" and note:
        info = PngInfo()
        info.add_text("Comment", note)
        img.save(out, "PNG", pnginfo=info)
    else:
        img.save(out, kind)
    return out.getvalue()


PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
EXE = b"MZ\x90\x00" + b"\x00" * 200  # a Windows program, whatever its name says


@dataclass
class Desk:
    crm: Server
    ente: EnteCtx
    twilio: FakeTwilio
    telegram: FakeTelegram
    var_dir: Path

    def api(self, method: str, path: str, who: str = "operator", **kw: Any) -> httpx.Response:
        return httpx.request(method, self.crm.url + "/api/v1" + path, headers=self.ente.headers(who), timeout=60, **kw)

    def stored(self, key: str) -> Path:
        return self.var_dir / "attachments" / key


@pytest.fixture(scope="module")
def desk(base_env: dict[str, str], db, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:  # type: ignore[no-untyped-def]
    ente = make_ente(db, slug=f"files-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    twilio, telegram = FakeTwilio(), FakeTelegram()
    port = free_port()
    var_dir = tmp_path_factory.mktemp("files-var")
    env = {
        **base_env,
        "URP_VAR_DIR": str(var_dir),
        "URP_ATTACHMENTS_MAX_BYTES": "300000",
        "URP_DEFAULT_ENTE": ente.slug,
        "URP_SCHEDULER_ENTES": ente.slug,
        "URP_PUBLIC_URL": f"http://127.0.0.1:{port}",
        **fakes_env(twilio, telegram),
    }
    crm = start_server(env, tmp_path_factory.mktemp("files") / "crm.log", port=port)
    d = Desk(crm=crm, ente=ente, twilio=twilio, telegram=telegram, var_dir=var_dir)
    assert (
        d.api(
            "PATCH", f"/operators/{ente.operator_ids['operator']}", "admin", json={"full_name": "Giulia Verdi"}
        ).status_code
        == 200
    )
    yield d
    crm.proc.terminate()
    crm.proc.wait(timeout=30)
    twilio.close()
    telegram.close()


class Citizen:
    """A citizen on the web chat: the widget's socket and its upload."""

    def __init__(self, desk: Desk) -> None:
        from websockets.sync.client import connect

        self.desk = desk
        self.session = str(uuid.uuid4())
        self.ws = connect(desk.crm.url.replace("http", "ws") + "/channels/web/ws", open_timeout=60)
        self.ws.send(json.dumps({"type": "hello", "session": self.session}))
        assert json.loads(self.ws.recv(timeout=30))["type"] == "history"
        self.got: list[dict[str, Any]] = []

    def upload(self, name: str, body: bytes, ctype: str = "application/octet-stream") -> httpx.Response:
        return httpx.post(
            self.desk.crm.url + "/channels/web/upload",
            data={"session": self.session, "client_id": uuid.uuid4().hex},
            files={"file": (name, body, ctype)},
            timeout=60,
        )

    def say(self, text: str) -> None:
        self.ws.send(json.dumps({"type": "message", "text": text, "client_id": uuid.uuid4().hex}))

    def wait(self, match: Any, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for e in self.got:
            if match(e):
                return e
        while time.monotonic() < deadline:
            try:
                e = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                break
            self.got.append(e)
            if match(e):
                return e
        pytest.fail(f"the citizen never got it; got {self.got}")


def _messages(desk: Desk, conversation_id: int) -> list[dict[str, Any]]:
    return list(desk.api("GET", f"/conversations/{conversation_id}").json()["messages"])


def _message(desk: Desk, message_id: int) -> tuple[int, dict[str, Any]]:
    """(conversation id, message) of a stored message, through the API."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for c in desk.api("GET", "/conversations", params={"mode": "open", "page_size": 100}).json()["items"]:
            for m in _messages(desk, c["id"]):
                if m["id"] == message_id:
                    return c["id"], m
        time.sleep(0.2)
    pytest.fail(f"message {message_id} not found")


def _conv_of(
    desk: Desk, channel: str, needle: str, settled: bool = True, timeout: float = 30
) -> tuple[int, list[dict[str, Any]]]:
    """The newest open conversation on ``channel`` with a citizen message containing ``needle``; ``settled``: once
    its files are no longer pending (fetched after the webhook, channels.media)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = desk.api("GET", "/conversations", params={"mode": "open", "channel": channel}).json()["items"]
        for c in sorted(items, key=lambda c: -c["id"]):
            msgs = _messages(desk, c["id"])
            mine = [m for m in msgs if m["direction"] == "in" and needle in (m["text"] or "")]
            if mine and (not settled or not any(a.get("pending") for m in mine for a in m["attachments"])):
                return c["id"], msgs
        time.sleep(0.2)
    pytest.fail(f"no {channel} conversation with {needle!r}")


def _tg(desk: Desk, user_id: int, message: dict[str, Any]) -> None:
    uid = 700_000 + next(_n)
    update = {
        "update_id": uid,
        "message": {
            "message_id": uid,
            "date": 1,
            "chat": {"id": user_id, "type": "private"},
            "from": {"id": user_id, "is_bot": False, "first_name": "Lucia"},
            **message,
        },
    }
    r = httpx.post(
        desk.crm.url + "/channels/telegram/webhook",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET},
        timeout=60,
    )
    assert r.status_code == 200, r.text


def _mms(desk: Desk, sender: str, body: str, media: list[tuple[str, str]]) -> None:
    params = {
        "From": sender,
        "To": TWILIO_FROM,
        "Body": body,
        "MessageSid": f"MM{uuid.uuid4().hex}",
        "AccountSid": TWILIO_SID,
        "NumMedia": str(len(media)),
    }
    for i, (url, ctype) in enumerate(media):
        params[f"MediaUrl{i}"] = url
        params[f"MediaContentType{i}"] = ctype
    url = desk.crm.url + "/channels/twilio/sms"
    sig = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    assert httpx.post(url, data=params, headers={"X-Twilio-Signature": sig}, timeout=60).status_code == 200


def _login(desk: Desk, who: str = "operator") -> httpx.Client:
    c = httpx.Client(base_url=desk.crm.url, timeout=60, follow_redirects=False)
    token = re.search(r'name="prelogin" value="([^"]+)"', c.get("/console/login").text)
    assert token is not None
    r = c.post(
        "/console/login",
        data={"prelogin": token.group(1), "username": desk.ente.usernames[who], "password": PASSWORD},
    )
    assert r.status_code == 303, r.text
    return c


def _csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m is not None
    return m.group(1)


def _audit_reads(db, message_id: int) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from crm.core.audit import AuditEntry as AuditLog

    async def count(s):  # type: ignore[no-untyped-def]
        return await s.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.entity == "message_file", AuditLog.entity_id == message_id)
        )

    return int(db.run(count) or 0)


# --- web chat ------------------------------------------------------------------------------------------------------
def test_web_upload_is_checked_stored_acknowledged_and_served(desk: Desk, db) -> None:  # type: ignore[no-untyped-def]
    citizen = Citizen(desk)
    png = image("PNG")
    r = citizen.upload("la mia foto.png", png, "image/png")
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == "*"  # the widget may sit on the Comune's other site
    ack = r.json()
    assert ack["id"] and [f["name"] for f in ack["files"]] == ["la mia foto.png"] and ack["files"][0]["image"]
    # a file alone: the assistant says it got it (it cannot read it)
    assert FILE_RECEIVED in citizen.wait(lambda e: e.get("type") == "message")["text"]

    conv_id, m = _message(desk, ack["id"])
    [a] = m["attachments"]
    assert (a["content_type"], a["size"], a["sha256"]) == ("image/png", len(png), hashlib.sha256(png).hexdigest())
    assert desk.stored(a["key"]).read_bytes() == png

    # the citizen's copy, by its signed link: the checked type, never sniffed, inline (a thumbnail)
    got = httpx.get(desk.crm.url + ack["files"][0]["url"], timeout=30)
    assert got.status_code == 200 and got.content == png
    assert got.headers["content-type"] == "image/png" and got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"].startswith("inline;")
    assert "sandbox" in got.headers["content-security-policy"]
    forged = re.sub(r"/[0-9a-f]+$", "/" + "0" * 40, ack["files"][0]["url"])
    assert httpx.get(desk.crm.url + forged, timeout=30).status_code == 404

    # the same upload sent again (the widget retries with the same client id) is stored once
    again = httpx.post(
        desk.crm.url + "/channels/web/upload",
        data={"session": citizen.session, "client_id": "retry-1"},
        files={"file": ("doc.pdf", PDF, "application/pdf")},
        timeout=60,
    )
    twice = httpx.post(
        desk.crm.url + "/channels/web/upload",
        data={"session": citizen.session, "client_id": "retry-1"},
        files={"file": ("doc.pdf", PDF, "application/pdf")},
        timeout=60,
    )
    assert again.status_code == twice.status_code == 200 and again.json()["id"] == twice.json()["id"]
    assert sum(1 for x in _messages(desk, conv_id) if x["attachments"]) == 2


@pytest.mark.parametrize(
    ("name", "body", "ctype", "says"),
    [
        ("foto.jpg", EXE, "image/jpeg", "si possono inviare solo foto JPEG, PNG o WebP e documenti PDF"),
        ("script.svg", b"<svg onload='alert(1)'/>", "image/svg+xml", "si possono inviare solo foto JPEG, PNG o WebP"),
        ("grande.png", image("PNG", (1600, 1600), "#ff0000") + os.urandom(300_000), "image/png", "troppo grande"),
        ("vuoto.pdf", b"", "application/pdf", "Nessun file ricevuto"),
    ],
)
def test_web_upload_refused_in_italian_and_nothing_stored(
    desk: Desk, name: str, body: bytes, ctype: str, says: str
) -> None:
    citizen = Citizen(desk)
    before = {p for p in (desk.var_dir / "attachments").rglob("*") if p.is_file()}
    r = citizen.upload(name, body, ctype)
    assert r.status_code == 422, r.text
    assert says in r.json()["error"]["message"]
    after = {p for p in (desk.var_dir / "attachments").rglob("*") if p.is_file()}
    assert after == before


# --- Telegram ------------------------------------------------------------------------------------------------------
def test_telegram_photo_and_document_are_fetched_with_getfile_and_stored(desk: Desk) -> None:
    jpeg, chat = image("JPEG", (640, 480)), 880_000 + next(_n)
    small = image("JPEG", (90, 60))
    FakeTelegram.files.update({f"big{chat}": jpeg, f"thumb{chat}": small, f"doc{chat}": PDF})
    _tg(
        desk,
        chat,
        {
            "caption": "Buca in via Roma",
            "photo": [
                {"file_id": f"thumb{chat}", "file_unique_id": "t", "width": 90, "height": 60, "file_size": len(small)},
                {"file_id": f"big{chat}", "file_unique_id": "b", "width": 640, "height": 480, "file_size": len(jpeg)},
            ],
        },
    )
    conv_id, msgs = _conv_of(desk, "telegram", "Buca in via Roma")
    [a] = next(m for m in msgs if m["text"] == "Buca in via Roma")["attachments"]
    assert a["content_type"] == "image/jpeg" and desk.stored(a["key"]).read_bytes() == jpeg  # the largest size

    _tg(
        desk,
        chat,
        {
            "caption": "Il modulo firmato",
            "document": {
                "file_id": f"doc{chat}",
                "file_unique_id": "d",
                "file_name": "modulo.pdf",
                "mime_type": "application/pdf",
                "file_size": len(PDF),
            },
        },
    )
    _, msgs = _conv_of(desk, "telegram", "Il modulo firmato")
    [d] = next(m for m in msgs if m["text"] == "Il modulo firmato")["attachments"]
    assert (d["name"], d["content_type"]) == ("modulo.pdf", "application/pdf")
    assert desk.stored(d["key"]).read_bytes() == PDF


def test_telegram_file_that_cannot_be_fetched_keeps_the_words_and_tells_the_citizen(desk: Desk) -> None:
    chat = 881_000 + next(_n)
    FakeTelegram.files[f"exe{chat}"] = EXE
    _tg(
        desk,
        chat,
        {
            "caption": "Le mando la ricevuta",
            "document": {"file_id": f"gone{chat}", "file_unique_id": "g", "file_name": "ricevuta.pdf", "file_size": 10},
        },
    )
    _, msgs = _conv_of(desk, "telegram", "Le mando la ricevuta")
    [a] = next(m for m in msgs if m["text"] == "Le mando la ricevuta")["attachments"]
    assert a == {"name": "ricevuta.pdf", "refused": "download failed"}
    told = desk.telegram.wait_for(lambda r: r.get("chat_id") == chat and NOT_FETCHED in (r.get("text") or ""))
    assert told and "ricevuta.pdf" in told[0]["text"]

    # an executable named as a PDF: fetched, recognised by its first bytes, refused
    _tg(
        desk,
        chat,
        {
            "caption": "Ecco il documento",
            "document": {
                "file_id": f"exe{chat}",
                "file_unique_id": "e",
                "file_name": "documento.pdf",
                "file_size": 204,
            },
        },
    )
    _, msgs = _conv_of(desk, "telegram", "Ecco il documento")
    [a] = next(m for m in msgs if m["text"] == "Ecco il documento")["attachments"]
    assert a == {"name": "documento.pdf", "refused": "type not allowed"}
    assert desk.telegram.wait_for(
        lambda r: r.get("chat_id") == chat and "documento.pdf» non è stato accettato" in (r.get("text") or "")
    )


# --- MMS -------------------------------------------------------------------------------------------------------------
def test_mms_media_fetched_with_the_account_credentials(desk: Desk) -> None:
    number = f"+39347{next(_n) % 10**7:07d}"
    png = image("PNG", (200, 120), "#00756a")
    path = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/MM{uuid.uuid4().hex}/Media/ME{uuid.uuid4().hex}"
    desk.twilio.media[path] = (png, "image/png")
    _mms(
        desk,
        number,
        "Foto del lampione spento",
        [(desk.twilio.url + path, "image/png"), ("http://127.0.0.1:1/elsewhere", "image/png")],
    )
    _, msgs = _conv_of(desk, "sms", "Foto del lampione spento")
    first, second = next(m for m in msgs if m["text"] == "Foto del lampione spento")["attachments"]
    assert first["content_type"] == "image/png" and desk.stored(first["key"]).read_bytes() == png
    # a media URL outside Twilio's API is not fetched (the credentials would go with it): refused, words kept
    assert second == {"name": "mms-2", "refused": "download failed"}
    [get] = [g for g in desk.twilio.media_gets if g["path"] == path]
    assert get["authorization"].startswith("Basic ")
    assert desk.twilio.wait_for(lambda r: r.get("To") == number and "mms-2" in r.get("Body", ""))


# --- WebP ------------------------------------------------------------------------------------------------------------
def test_webp_is_kept_on_web_chat_telegram_and_mms_and_shown_in_the_thread(desk: Desk) -> None:
    """A WebP picture (RIFF....WEBP and a VP8 chunk) is an image like a JPEG on every channel: stored as image/webp
    with its extension, and a thumbnail in the operator's thread; a RIFF that is not a WebP (a WAV) is refused."""
    webp = image("WEBP", (240, 160), "#a66300")
    assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP"
    # web chat
    citizen = Citizen(desk)
    r = citizen.upload("segnalazione", webp, "application/octet-stream")  # what the browser declared does not count
    assert r.status_code == 200, r.text
    [f] = r.json()["files"]
    assert f["name"] == "segnalazione.webp" and f["image"]
    web_conv, m = _message(desk, r.json()["id"])
    assert m["attachments"][0]["content_type"] == "image/webp"
    wav = b"RIFF" + (36).to_bytes(4, "little") + b"WAVEfmt " + b"\x00" * 40
    refused = citizen.upload("audio.webp", wav, "image/webp")
    assert refused.status_code == 422 and refused.json()["error"]["fields"] == {"file": "type not allowed"}
    # Telegram: a WebP sent as a file
    chat = 883_000 + next(_n)
    FakeTelegram.files[f"webp{chat}"] = webp
    _tg(
        desk,
        chat,
        {
            "caption": "Il cartello caduto",
            "document": {
                "file_id": f"webp{chat}",
                "file_unique_id": "w",
                "file_name": "cartello.webp",
                "mime_type": "image/webp",
                "file_size": len(webp),
            },
        },
    )
    tg_conv, msgs = _conv_of(desk, "telegram", "Il cartello caduto")
    [t] = next(m for m in msgs if m["text"] == "Il cartello caduto")["attachments"]
    assert (t["name"], t["content_type"]) == ("cartello.webp", "image/webp")
    assert desk.stored(t["key"]).read_bytes() == webp
    # MMS: Twilio's media of type image/webp
    number = f"+39346{next(_n) % 10**7:07d}"
    path = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/MM{uuid.uuid4().hex}/Media/ME{uuid.uuid4().hex}"
    desk.twilio.media[path] = (webp, "image/webp")
    _mms(desk, number, "Foto del marciapiede", [(desk.twilio.url + path, "image/webp")])
    sms_conv, msgs = _conv_of(desk, "sms", "Foto del marciapiede")
    [mm] = next(m for m in msgs if m["text"] == "Foto del marciapiede")["attachments"]
    assert mm["content_type"] == "image/webp" and desk.stored(mm["key"]).read_bytes() == webp
    # shown as pictures in the operator's thread, served with their checked type
    c = _login(desk)
    for conv_id, name in ((web_conv, "segnalazione.webp"), (tg_conv, "cartello.webp")):
        page = c.get(f"/console/conversations/{conv_id}").text
        thumb = re.search(
            rf'<img class="ws-thumb" src="(/console/files/\d+/\d+)" alt="Foto inviata: {re.escape(name)}"', page
        )
        assert thumb, page[-3000:]
        served = c.get(thumb.group(1))
        assert served.status_code == 200 and served.headers["content-type"] == "image/webp"
        assert served.content == webp and served.headers["content-disposition"].startswith("inline;")
    assert '<img class="ws-thumb"' in c.get(f"/console/conversations/{sms_conv}").text


# --- downloads off the webhook, retried ------------------------------------------------------------------------------
def test_a_file_server_failing_once_does_not_lose_the_file(desk: Desk) -> None:
    """Telegram's and Twilio's file servers answer 500 to the first download: the webhook has stored the message
    already (its file pending, nothing fetched inside the request), and the retry after the backoff stores the file."""
    pdf_id, chat = f"retry{uuid.uuid4().hex[:8]}", 884_000 + next(_n)
    FakeTelegram.files[pdf_id] = PDF
    desk.telegram.fail_files = 1
    _tg(
        desk,
        chat,
        {
            "caption": "La ricevuta del pagamento",
            "document": {"file_id": pdf_id, "file_unique_id": "r", "file_name": "ricevuta.pdf", "file_size": len(PDF)},
        },
    )
    _, msgs = _conv_of(desk, "telegram", "La ricevuta del pagamento", settled=False)
    [a] = next(m for m in msgs if m["text"] == "La ricevuta del pagamento")["attachments"]
    assert a["pending"] and a["name"] == "ricevuta.pdf"  # stored at once; the failed first try left it pending
    _, msgs = _conv_of(desk, "telegram", "La ricevuta del pagamento", timeout=60)
    [a] = next(m for m in msgs if m["text"] == "La ricevuta del pagamento")["attachments"]
    assert a["content_type"] == "application/pdf" and desk.stored(a["key"]).read_bytes() == PDF
    assert desk.telegram.file_gets.count(pdf_id) == 2  # the failed download, then the retry
    assert not desk.telegram.wait_for(
        lambda r: r.get("chat_id") == chat and NOT_FETCHED in (r.get("text") or ""), timeout=1
    )

    number = f"+39345{next(_n) % 10**7:07d}"
    png = image("PNG", (120, 90), "#5c2d91")
    path = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/MM{uuid.uuid4().hex}/Media/ME{uuid.uuid4().hex}"
    desk.twilio.media[path] = (png, "image/png")
    desk.twilio.fail_files = 1
    _mms(desk, number, "Il tombino rotto", [(desk.twilio.url + path, "image/png")])
    _, msgs = _conv_of(desk, "sms", "Il tombino rotto", timeout=60)
    [mm] = next(m for m in msgs if m["text"] == "Il tombino rotto")["attachments"]
    assert mm["content_type"] == "image/png" and desk.stored(mm["key"]).read_bytes() == png
    assert [g["path"] for g in desk.twilio.media_gets].count(path) == 2


def test_the_scheduler_takes_up_files_a_restart_left_pending(
    base_env: dict[str, str], db, tmp_path_factory: pytest.TempPathFactory
) -> None:  # type: ignore[no-untyped-def]
    """A process stopped between the webhook and the download: the message waits with its file pending (as the
    webhook stored it); the next process's scheduler (job chat-files) fetches it."""
    from crm.contacts import service as contacts
    from crm.conversations import service as conversations
    from crm.conversations.models import Message

    ente = make_ente(db, slug=f"files-restart-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    twilio, telegram = FakeTwilio(), FakeTelegram()
    file_id, chat = f"left{uuid.uuid4().hex[:8]}", 885_000 + next(_n)
    FakeTelegram.files[file_id] = PDF

    async def left_pending(s):  # type: ignore[no-untyped-def]
        contact, _ = await contacts.find_or_create_by_identity(
            s, ente_id=ente.ente_id, channel="telegram", external_id=str(chat)
        )
        _, msg, _ = await conversations.record_inbound(
            s,
            ente_id=ente.ente_id,
            contact_id=contact.id,
            channel="telegram",
            text="Il verbale",
            channel_message_id=f"{chat}:1",
            attachments=[{"name": "verbale.pdf", "pending": True, "source": {"telegram": file_id}}],
        )
        assert msg.next_attempt_at is not None  # due at once
        return msg.id

    message_id = db.run(left_pending)
    var_dir = tmp_path_factory.mktemp("files-restart-var")
    env = {
        **base_env,
        "URP_VAR_DIR": str(var_dir),
        "URP_SCHEDULER": "true",
        "URP_SCHEDULER_ENTES": ente.slug,
        "URP_SCHEDULER_INTERVAL_SECONDS": "0.5",
        **fakes_env(twilio, telegram),
    }
    crm = start_server(env, tmp_path_factory.mktemp("files-restart") / "crm.log")
    try:

        async def files_of(s):  # type: ignore[no-untyped-def]
            m = await s.get(Message, message_id)
            await s.refresh(m)
            return m.attachments, m.next_attempt_at

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            (attachments, due) = db.run(files_of)
            if not attachments[0].get("pending"):
                break
            time.sleep(0.3)
        [a] = attachments
        assert a["content_type"] == "application/pdf" and a["name"] == "verbale.pdf", a
        assert (var_dir / "attachments" / a["key"]).read_bytes() == PDF and due is None
    finally:
        crm.proc.terminate()
        crm.proc.wait(timeout=30)
        twilio.close()
        telegram.close()


# --- the operators ---------------------------------------------------------------------------------------------------
def _taken(desk: Desk, conv_id: int) -> None:
    r = desk.api("POST", f"/conversations/{conv_id}/take")
    assert r.status_code == 200, r.text


def test_operator_sees_the_file_audited_attaches_it_and_sends_one_back(desk: Desk, db) -> None:  # type: ignore[no-untyped-def]
    citizen = Citizen(desk)
    citizen.say("Vorrei allegare una foto alla mia segnalazione")
    ack = citizen.upload("buca.png", image("PNG"), "image/png").json()
    conv_id, m = _message(desk, ack["id"])
    _taken(desk, conv_id)
    contact_id = desk.api("GET", f"/conversations/{conv_id}").json()["contact_id"]
    ticket = desk.api(
        "POST",
        "/requests",
        json={"contact_id": contact_id, "kind": "report", "subject": "Buca in via Roma", "channel": "web"},
    ).json()

    with closing(_login(desk)) as c:
        page = c.get(f"/console/conversations/{conv_id}")
        assert page.status_code == 200
        href = f"/console/files/{ack['id']}/0"
        assert f'src="{href}"' in page.text and f"Richiesta {ticket['code']}" in page.text
        reads = _audit_reads(db, ack["id"])
        got = c.get(href)
        assert got.status_code == 200 and got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["content-disposition"] == 'inline; filename="buca.png"'
        assert _audit_reads(db, ack["id"]) == reads + 1  # who looked at the citizen's file
        assert httpx.get(desk.crm.url + href, timeout=30, follow_redirects=False).status_code in (302, 303)

        # attached to the citizen's request: named in its history, linked on its page
        r = c.post(
            f"/console/conversations/{conv_id}/attach",
            data={"csrf": _csrf(page.text), "message_id": ack["id"], "index": 0, "target": f"request:{ticket['id']}"},
        )
        assert r.status_code == 303, r.text
        req_page = c.get(f"/console/requests/{ticket['id']}").text
        assert f'href="{href}"' in req_page and "buca.png" in req_page

        # a file back to the citizen with the reply: the widget gets its link
        pdf_reply = c.post(
            f"/console/conversations/{conv_id}/reply",
            data={"csrf": _csrf(page.text), "text": "Le invio il modulo da compilare."},
            files={"file": ("modulo segnalazioni.pdf", PDF, "application/pdf")},
        )
        assert pdf_reply.status_code == 303, pdf_reply.text
        sent = citizen.wait(lambda e: e.get("type") == "message" and e.get("author") == "operator")
        assert sent["text"] == "Le invio il modulo da compilare."
        [f] = sent["files"]
        assert f["name"] == "modulo segnalazioni.pdf" and not f["image"]
        got = httpx.get(desk.crm.url + f["url"], timeout=30)
        assert got.content == PDF and got.headers["content-disposition"].startswith("attachment;")

        # what the operator may not send is refused in Italian, nothing sent
        bad = c.post(
            f"/console/conversations/{conv_id}/reply",
            data={"csrf": _csrf(page.text), "text": "Ecco"},
            files={"file": ("virus.pdf", EXE, "application/pdf")},
        )
        assert bad.status_code == 422 and "non è stato accettato" in bad.text
        assert not any(x["text"] == "Ecco" for x in _messages(desk, conv_id))


def test_operator_file_reaches_telegram_as_photo_and_sms_is_refused(desk: Desk) -> None:
    chat = 882_000 + next(_n)
    uid = 710_000 + next(_n)
    r = httpx.post(
        desk.crm.url + "/channels/telegram/webhook",
        json={
            "update_id": uid,
            "message": {
                "message_id": uid,
                "date": 1,
                "text": "Mi serve la planimetria",
                "chat": {"id": chat, "type": "private"},
                "from": {"id": chat, "is_bot": False, "first_name": "Lucia"},
            },
        },
        headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET},
        timeout=60,
    )
    assert r.status_code == 200
    conv_id, _ = _conv_of(desk, "telegram", "Mi serve la planimetria")
    desk.telegram.wait_for(lambda r: r.get("chat_id") == chat)  # the holding answer (no assistant here)
    _taken(desk, conv_id)
    jpeg = image("JPEG", (300, 200))
    with closing(_login(desk)) as c:
        page = c.get(f"/console/conversations/{conv_id}")
        r = c.post(
            f"/console/conversations/{conv_id}/reply",
            data={"csrf": _csrf(page.text), "text": "Eccola"},
            files={"file": ("planimetria.jpg", jpeg, "image/jpeg")},
        )
        assert r.status_code == 303, r.text
    [photo] = desk.telegram.wait_for(lambda r: r.get("chat_id") == chat and r.get("method") == "sendPhoto")
    assert photo["sha256"] == hashlib.sha256(jpeg).hexdigest() and photo["filename"] == "planimetria.jpg"
    assert desk.telegram.wait_for(lambda r: r.get("chat_id") == chat and "Eccola" in (r.get("text") or ""))

    number = f"+39347{next(_n) % 10**7:07d}"
    _mms(desk, number, "Ho bisogno di aiuto", [])
    sms_conv, _ = _conv_of(desk, "sms", "Ho bisogno di aiuto")
    _taken(desk, sms_conv)
    with closing(_login(desk)) as c:
        page = c.get(f"/console/conversations/{sms_conv}")
        assert 'id="ws-file"' not in page.text  # no attach button where it cannot go
        r = c.post(
            f"/console/conversations/{sms_conv}/reply",
            data={"csrf": _csrf(page.text), "text": "Eccola"},
            files={"file": ("planimetria.jpg", jpeg, "image/jpeg")},
        )
        assert r.status_code == 422 and "Su SMS non si possono inviare file" in r.text


def test_istanza_gets_a_copy_of_the_chat_file(desk: Desk) -> None:
    citizen = Citizen(desk)
    citizen.say("Integro la mia istanza")
    png = image("PNG", (240, 160), "#5c6f82")
    up = citizen.upload("integrazione.png", png, "image/png")
    assert up.status_code == 200, up.text
    ack = up.json()
    conv_id, _ = _message(desk, ack["id"])
    _taken(desk, conv_id)
    contact_id = desk.api("GET", f"/conversations/{conv_id}").json()["contact_id"]
    slug = f"t-{uuid.uuid4().hex[:8]}"
    assert desk.api("POST", "/instance-types", "admin", json={"slug": slug, "title": "Contributo"}).status_code == 201
    inst = desk.api("POST", "/instances", json={"type": slug, "contact_id": contact_id, "data": {}})
    assert inst.status_code == 201, inst.text
    with closing(_login(desk)) as c:
        page = c.get(f"/console/conversations/{conv_id}")
        assert f"Istanza {inst.json()['code']}" in page.text
        r = c.post(
            f"/console/conversations/{conv_id}/attach",
            data={
                "csrf": _csrf(page.text),
                "message_id": ack["id"],
                "index": 0,
                "target": f"instance:{inst.json()['id']}",
            },
        )
        assert r.status_code == 303, r.text
    atts = desk.api("GET", f"/instances/{inst.json()['id']}").json()["attachments"]
    assert [(a["filename"], a["kind"], a["sha256"]) for a in atts] == [
        ("integrazione.png", "chat", hashlib.sha256(png).hexdigest())
    ]


def test_erasure_deletes_the_conversation_files(desk: Desk) -> None:
    citizen = Citizen(desk)
    citizen.say("Una domanda con una foto")
    ack = citizen.upload("documento.png", image("PNG"), "image/png").json()
    conv_id, m = _message(desk, ack["id"])
    path = desk.stored(m["attachments"][0]["key"])
    assert path.is_file()
    contact_id = desk.api("GET", f"/conversations/{conv_id}").json()["contact_id"]
    assert desk.api("POST", f"/contacts/{contact_id}/erase", "admin").status_code == 200
    assert not path.exists()
    assert httpx.get(desk.crm.url + ack["files"][0]["url"], timeout=30).status_code == 404


# --- in the browser: the widget's upload, the workspace's thumbnail and composer, the widget's copy -------------------
@pytest.fixture
def pages(browser: Any, desk: Desk, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:  # noqa: F811
    with browser_pages(browser, request, tmp_path, base_url=desk.crm.url) as make:
        yield make


def _shots(page: Any, name: str) -> None:
    out = Path(os.environ.get("URP_SCREENSHOTS", "/tmp/urp-screens"))
    out.mkdir(parents=True, exist_ok=True)
    for size, (w, h) in SIZES.items():
        page.set_viewport_size({"width": w, "height": h})
        page.wait_for_timeout(200)
        page.screenshot(path=str(out / f"{name}-{size}.png"))
    page.set_viewport_size({"width": SIZES["desktop"][0], "height": SIZES["desktop"][1]})


def test_widget_and_workspace_in_the_browser(desk: Desk, pages: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    photo = tmp_path / "buca-via-roma.png"
    photo.write_bytes(image("PNG", (480, 320), "#d9364f"))
    bad = tmp_path / "programma.pdf"
    bad.write_bytes(EXE)
    back = tmp_path / "modulo.pdf"
    back.write_bytes(PDF)

    citizen = pages(viewport={"width": 1366, "height": 768})
    citizen.goto("/")
    citizen.get_by_role("button", name="Scrivi al Comune").click()
    dialog = citizen.get_by_role("dialog", name="Assistente del Comune")
    log = dialog.get_by_role("log", name="Messaggi")
    box = dialog.get_by_role("textbox", name="Scrivi un messaggio")
    box.fill("Vorrei segnalare una buca")
    box.press("Enter")
    expect(log.locator(".urp-msg.system").last).to_contain_text("non risponde")
    citizen.locator("#urp-chat-file").set_input_files(str(photo))
    expect(log.locator(".urp-msg.citizen img.urp-thumb")).to_have_count(1)
    expect(log.locator(".urp-msg.citizen img.urp-thumb")).to_have_attribute("alt", "Foto: buca-via-roma.png")
    assert citizen.locator("img.urp-thumb").evaluate("i => i.decode().then(() => i.naturalWidth)") == 480
    citizen.locator("#urp-chat-file").set_input_files(str(bad))
    expect(dialog.locator(".urp-status")).to_contain_text(
        "si possono inviare solo foto JPEG, PNG o WebP e documenti PDF"
    )
    _shots(citizen, "attach-widget-upload")
    require_axe()
    serious = [v for v in run_axe(citizen)["violations"] if v["impact"] in ("serious", "critical")]
    assert not serious, serious

    conv_id = max(
        c["id"] for c in desk.api("GET", "/conversations", params={"mode": "waiting", "channel": "web"}).json()["items"]
    )
    _taken(desk, conv_id)
    contact_id = desk.api("GET", f"/conversations/{conv_id}").json()["contact_id"]
    ticket = desk.api(
        "POST",
        "/requests",
        json={"contact_id": contact_id, "kind": "report", "subject": "Buca in via Roma", "channel": "web"},
    ).json()
    operator = pages(viewport={"width": 1366, "height": 768}, bypass_csp=True)  # axe is injected inline
    operator.goto("/console/login")
    operator.get_by_label("Nome utente").fill(desk.ente.usernames["operator"])
    operator.get_by_label("Password").fill(PASSWORD)
    operator.get_by_label("Password").press("Enter")
    expect(operator).to_have_url(re.compile(r"/console/"))
    operator.goto(f"/console/conversations/{conv_id}")
    thumb = operator.locator("#ws-messages img.ws-thumb")
    expect(thumb).to_have_count(1)
    assert thumb.evaluate("i => i.decode().then(() => i.naturalWidth)") == 480
    # the photo goes to the citizen's request from the thread, without leaving the page
    attach = operator.locator("#ws-messages form.ws-attach")
    expect(attach.get_by_label("Allega «buca-via-roma.png» a")).to_have_value(f"request:{ticket['id']}")
    _shots(operator, "attach-workspace-file")
    attach.get_by_role("button", name="Allega alla pratica").click()
    expect(operator.locator("#ws-error")).to_have_text("")
    operator.locator("#reply").fill("Le invio il modulo per la segnalazione.")
    operator.locator("#ws-file").set_input_files(str(back))
    expect(operator.locator("#ws-file-chosen")).to_have_text("Allegato: modulo.pdf")
    _shots(operator, "attach-workspace-composer")
    operator.locator("#reply").press("Enter")
    expect(operator.locator("#ws-messages a.ws-doc", has_text="modulo.pdf")).to_have_count(1)
    expect(operator.locator("#ws-file-chosen")).to_have_text("")
    assert operator.locator("#reply").input_value() == ""
    _shots(operator, "attach-workspace-thread")
    serious = [v for v in run_axe(operator)["violations"] if v["impact"] in ("serious", "critical")]
    assert not serious, serious

    reply = log.locator(".urp-msg.operator").last
    expect(reply).to_contain_text("Le invio il modulo per la segnalazione.")
    expect(reply.locator("a.urp-file")).to_contain_text("modulo.pdf")
    href = reply.locator("a.urp-file").get_attribute("href") or ""
    assert httpx.get(href, timeout=30).content == PDF
    _shots(citizen, "attach-widget-reply")
    operator.goto(f"/console/requests/{ticket['id']}")
    expect(operator.get_by_role("link", name=re.compile("buca-via-roma.png"))).to_have_count(1)
    unexpected = [e for e in citizen.errors if "422" not in e]  # type: ignore[attr-defined]  # the refused file
    assert not unexpected, unexpected
    # the browser's own favicon request is not the page's (as in tests/console/test_workspace_browser.py)
    assert not [e for e in operator.errors if "Failed to load resource" not in e], operator.errors  # type: ignore[attr-defined]


def test_workspace_shows_a_file_once_it_arrives(desk: Desk, pages: Any) -> None:
    """The operator has the Telegram chat open; the citizen's photo reaches the thread at once as "File in arrivo
    dal canale" (Telegram's file server failed the first download) and turns into the picture when the retry
    fetches it, without a reload."""
    from playwright.sync_api import expect

    chat = 886_000 + next(_n)
    _tg(desk, chat, {"text": "Vorrei parlare con un operatore per una segnalazione"})
    conv_id, _ = _conv_of(desk, "telegram", "per una segnalazione")
    _taken(desk, conv_id)
    operator = pages(viewport={"width": 1366, "height": 768})
    operator.goto("/console/login")
    operator.get_by_label("Nome utente").fill(desk.ente.usernames["operator"])
    operator.get_by_label("Password").fill(PASSWORD)
    operator.get_by_label("Password").press("Enter")
    expect(operator).to_have_url(re.compile(r"/console/"))
    operator.goto(f"/console/conversations/{conv_id}")
    expect(operator.locator("#ws")).to_have_attribute("data-live", "on", timeout=30_000)
    png, file_id = image("PNG", (300, 200), "#00756a"), f"late{uuid.uuid4().hex[:8]}"
    FakeTelegram.files[file_id] = png
    desk.telegram.fail_files = 1
    _tg(
        desk,
        chat,
        {
            "caption": "Ecco la foto",
            "document": {"file_id": file_id, "file_unique_id": "l", "file_name": "cartello.png", "file_size": len(png)},
        },
    )
    waiting = operator.locator("#ws-messages li[data-pending]")
    expect(waiting).to_contain_text("File in arrivo dal canale: cartello.png", timeout=30_000)
    thumb = operator.locator("#ws-messages img.ws-thumb[alt='Foto inviata: cartello.png']")
    expect(thumb).to_have_count(1, timeout=60_000)
    assert thumb.evaluate("i => i.decode().then(() => i.naturalWidth)") == 300
    expect(waiting).to_have_count(0)
    assert not operator.errors, operator.errors  # type: ignore[attr-defined]
