"""Channel endpoints: Twilio and Telegram webhooks (verified), the web-chat socket, the widget and its demo page."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
import uuid
from pathlib import Path
from typing import Any

from sanic import Blueprint, Request, Websocket
from sanic.response import HTTPResponse, file, raw, text
from sanic.response import json as json_response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from channels import hub, media, render
from channels.base import Inbound
from channels.twilio_sms import START_WORDS, STOP_WORDS, map_digit_reply, verify
from channels.web import file_token, files_of
from crm.contacts import commands as contact_commands
from crm.contacts import service as contacts
from crm.conversations import commands as conversation_commands
from crm.conversations import files as chat_files
from crm.conversations import service as conversations
from crm.conversations import transcript
from crm.conversations.models import Conversation, Message, MessagePart
from crm.core.auth import Principal, public
from crm.core.commands import acting
from crm.core.errors import Forbidden, NotFound, TooManyRequests, Unauthorized, ValidationFailed
from crm.core.text import clean_text
from crm.db import transaction
from crm.entes import service as entes
from crm.tasks import uncancellable

bp = Blueprint("channels")
log = logging.getLogger("urp.channels")
STATIC = Path(__file__).parent / "static"
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


async def default_ente_id(app: Any) -> int:
    cached = getattr(app.ctx, "default_ente_id", None)
    if cached is None:
        async with app.ctx.read_sessionmaker() as s:
            ente = await entes.get_by_slug(s, app.ctx.settings.default_ente)
        if ente is None:
            raise NotFound("no ente configured: run `urp demo seed` or `urp entes create`")
        cached = app.ctx.default_ente_id = ente.id
    return int(cached)


def _twilio_url(request: Request) -> str:
    """The URL Twilio signed: our public URL (we may sit behind a proxy) plus the path and query."""
    base: str = request.app.ctx.settings.public_url.rstrip("/")
    return base + request.path + (f"?{request.query_string}" if request.query_string else "")


def _form(request: Request) -> dict[str, str]:
    """Twilio's parameters as it signed them. Twilio signs blank values too (``FromCity=`` outside the US, the empty
    ``Body`` of a photo-only MMS); ``request.form`` drops them, and the signature of most real SMS would not match."""
    form = request.get_form(keep_blank_values=True)
    return {k: v[0] for k, v in form.items()} if form else {}


def _media(params: dict[str, str]) -> list[dict[str, str]]:
    """An MMS's pictures (MediaUrlN / MediaContentTypeN), kept with the message: nothing the citizen sends is lost."""
    try:
        count = min(int(params.get("NumMedia") or 0), 10)
    except ValueError:
        count = 0
    return [
        {"url": params[f"MediaUrl{i}"], "content_type": params.get(f"MediaContentType{i}", "")}
        for i in range(count)
        if params.get(f"MediaUrl{i}")
    ]


@bp.post("/channels/twilio/sms")
@public
async def twilio_sms(request: Request) -> HTTPResponse:
    """Inbound SMS (Twilio webhook, signed with X-Twilio-Signature)."""
    adapter = request.app.ctx.adapters["sms"]
    if not adapter.configured:
        raise NotFound("SMS channel is not configured")
    params = _form(request)
    if not verify(adapter, _twilio_url(request), params, request.headers.get("x-twilio-signature", "")):
        raise Forbidden("invalid Twilio signature")
    params = {k: clean_text(v) for k, v in params.items()}  # signed as sent; stored and queried without NULs
    sender, sid = params.get("From", ""), params.get("MessageSid")
    if not sender or not sid:
        return text(TWIML_EMPTY, content_type="application/xml")
    # stored (and its turn queued) before Twilio gets its 200, to the end even if Twilio hangs up first
    await uncancellable(_sms_inbound(request.app, params))
    # replies are sent through the REST API (stored first, delivery tracked), so the TwiML answer is empty
    return text(TWIML_EMPTY, content_type="application/xml")


async def _sms_inbound(app: Any, params: dict[str, str]) -> None:
    sender, body, sid = params["From"], params.get("Body", "").strip(), params["MessageSid"]
    ente_id = await default_ente_id(app)
    word = body.lower().strip(" .!")
    inbound = Inbound(
        channel="sms",
        address=sender,
        text=body,
        channel_message_id=sid,
        phone=_e164(sender),
        attachments=_media(params),
    )
    if word in STOP_WORDS or word in START_WORDS:
        await _opt(app, ente_id, inbound, opt_out=word in STOP_WORDS)
        return
    digit_payload = await _last_buttons_payload(app, ente_id, "sms", sender, body)
    if digit_payload:
        inbound.payload = {"intent_payload": digit_payload}
    if inbound.attachments:
        inbound.payload["files"] = len(inbound.attachments)
    await _accept_with_files(app, ente_id, inbound, app.ctx.adapters["sms"])


def _e164(raw: str) -> str | None:
    from crm.contacts.schemas import normalise_phone

    try:
        return normalise_phone(raw)
    except ValueError:
        return None


async def _opt(app: Any, ente_id: int, inbound: Inbound, *, opt_out: bool) -> None:
    """STOP/ANNULLA: stored like any message, then the number is opted out (and told so, once)."""
    async with acting(app, Principal.system(ente_id, "channel:sms")) as cx:
        s = cx.session
        contact, _ = await contacts.find_or_create_by_identity(
            s, ente_id=ente_id, channel="sms", external_id=inbound.address, phone=inbound.phone
        )
        conv, _, duplicate = await conversations.record_inbound(
            s,
            ente_id=ente_id,
            contact_id=contact.id,
            channel="sms",
            text=inbound.text,
            channel_message_id=inbound.channel_message_id,
        )
        if duplicate:
            return
        await contact_commands.set_opt_out(cx, contact_id=contact.id, channel="sms", opted_out=opt_out)
        reply = await conversations.record_outbound(
            s, conv=conv, author_kind="system", text=hub.OPTED_OUT if opt_out else hub.OPTED_IN
        )
        reply_id = reply.id
    # the STOP confirmation is the last message this number receives: sent without the opt-out check
    await hub.deliver(app, ente_id, reply_id, ignore_opt_out=opt_out)


async def _last_buttons(app: Any, ente_id: int, channel: str, address: str) -> list[dict[str, Any]]:
    """The buttons of the last message sent in the sender's open conversation on this channel."""
    async with app.ctx.read_sessionmaker() as s:
        contact = await contacts.find_by_identity(s, ente_id=ente_id, channel=channel, external_id=address)
        if contact is None:
            return []
        last = await s.scalar(
            select(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(
                Conversation.ente_id == ente_id,
                Conversation.contact_id == contact.id,
                Conversation.channel == channel,
                Conversation.mode != "closed",
                Message.direction == "out",
            )
            .order_by(Message.id.desc())
            .limit(1)
        )
    return list((last.payload or {}).get("buttons", [])) if last else []


async def _last_buttons_payload(app: Any, ente_id: int, channel: str, address: str, body: str) -> str | None:
    """A bare digit answers the numbered options of the last bot message in the open conversation."""
    if not re.fullmatch(r"\s*\d{1,2}\s*[.)]?\s*", body):
        return None
    return map_digit_reply(body, await _last_buttons(app, ente_id, channel, address))


async def _button_title(app: Any, ente_id: int, channel: str, address: str, payload: str) -> str | None:
    # Telegram cuts callback data at 64 bytes: compare on that prefix
    return (
        next(
            (
                str(b.get("title") or "")
                for b in await _last_buttons(app, ente_id, channel, address)
                if str(b.get("payload") or "")[:64] == payload[:64]
            ),
            None,
        )
        or None
    )


@bp.post("/channels/twilio/status")
@public
async def twilio_status(request: Request) -> HTTPResponse:
    """Delivery status callback: delivered / undelivered / failed, recorded on the stored message."""
    adapter = request.app.ctx.adapters["sms"]
    if not adapter.configured:
        raise NotFound("SMS channel is not configured")
    params = _form(request)
    if not verify(adapter, _twilio_url(request), params, request.headers.get("x-twilio-signature", "")):
        raise Forbidden("invalid Twilio signature")
    sid, status = params.get("MessageSid", ""), params.get("MessageStatus", "")
    mapped = {"delivered": "delivered", "undelivered": "failed", "failed": "failed", "sent": "sent"}.get(status)
    if sid and mapped:
        async with transaction(request.app.ctx.sessionmaker) as s:
            # a long reply went out in parts: any part's SID finds the message
            m = await s.scalar(
                select(Message).where(Message.channel == "sms", Message.channel_message_id == sid)
            ) or await s.scalar(
                select(Message)
                .join(MessagePart, MessagePart.message_id == Message.id)
                .where(Message.channel == "sms", MessagePart.provider_id == sid)
            )
            if m is not None and m.delivery_status != "delivered":
                m.delivery_status = mapped
                if mapped == "failed":
                    m.delivery_error = f"twilio: {status} {params.get('ErrorCode', '')}".strip()
    return text("", status=204)


@bp.post("/channels/telegram/webhook")
@public
async def telegram_webhook(request: Request) -> HTTPResponse:
    """Telegram updates, authenticated by X-Telegram-Bot-Api-Secret-Token."""
    adapter = request.app.ctx.adapters["telegram"]
    secret = request.app.ctx.channel_settings.telegram_webhook_secret
    if not adapter.configured or secret is None:
        raise NotFound("Telegram channel is not configured")
    given = request.headers.get("x-telegram-bot-api-secret-token")
    if not given:
        raise Unauthorized("missing Telegram secret token")
    if not hmac.compare_digest(given.encode(), secret.get_secret_value().encode()):
        raise Forbidden("invalid Telegram secret token")
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        from crm.core.errors import BadRequest

        raise BadRequest("malformed JSON body", code="malformed_json") from None
    # stored (and its turn queued) before Telegram gets its 200, to the end even if Telegram hangs up first
    await uncancellable(handle_telegram_update(request.app, data))
    return text("", status=200)


async def handle_telegram_update(app: Any, data: dict[str, Any]) -> None:
    adapter = app.ctx.adapters["telegram"]
    inbound = adapter.parse(data)
    if inbound is None:
        return
    ente_id = await default_ente_id(app)
    if inbound.phone:
        await _link_telegram_phone(app, ente_id, inbound)
    if inbound.payload.get("callback_query_id"):
        # a button press carries only its payload (e.g. /affirm): the transcript shows the button's words instead
        inbound.text = await _button_title(app, ente_id, "telegram", inbound.address, inbound.text) or inbound.text
    await _accept_with_files(app, ente_id, inbound, adapter)


async def _accept_with_files(app: Any, ente_id: int, inbound: Inbound, adapter: Any) -> None:
    """The message stored at once, its files described as pending (``channels.media``): they are fetched from the
    provider after the webhook is answered, with retries, and checked then. The words are never lost."""
    if inbound.attachments:
        inbound.attachments = media.pending(inbound, app.ctx.settings.attachments_max_bytes)
        waiting = sum(1 for a in inbound.attachments if a.get("pending"))
        inbound.payload = {k: v for k, v in inbound.payload.items() if k != "files"} | (
            {"files": waiting} if waiting else {}
        )
    accepted = await hub.accept(app, ente_id, inbound)
    if not accepted.duplicate and media.is_pending(inbound.attachments):
        app.ctx.background.spawn(
            media.fetch_until_done(app, ente_id, accepted.message_id), name=f"media-{accepted.message_id}"
        )


async def _link_telegram_phone(app: Any, ente_id: int, inbound: Inbound) -> None:
    """The citizen shared their number: if a contact has it, the Telegram identity moves to that contact."""
    async with acting(app, Principal.system(ente_id, "channel:telegram")) as cx:
        existing = await contacts.find_by_phone(cx.session, ente_id=ente_id, e164=inbound.phone or "")
        if existing is not None:
            await contact_commands.link_identity(
                cx, contact_id=existing.id, channel="telegram", external_id=inbound.address
            )


# --- web chat -------------------------------------------------------------------------------------------------
TYPING_EVERY = 2.0  # s: the citizen's "typing" hints forwarded to the operators, at most one per socket per interval
SESSION_RE = re.compile(r"^[A-Za-z0-9-]{16,64}$")


@bp.websocket("/channels/web/ws")  # type: ignore[untyped-decorator]  # sanic's websocket() has no annotations
@public
async def web_socket(request: Request, ws: Websocket) -> None:
    """Protocol (JSON): client {type: hello, session} | {type: message, text, client_id} | {type: typing} |
    {type: transcript, email?} (the transcript by e-mail; without an address, to the contact's own); server
    {type: history, messages: [{id, author, name, notice, text, buttons, client_id?}]} | {type: message, id, author,
    name, notice, text, buttons} | {type: typing} | {type: ack, client_id, id} | {type: transcript, ok, text,
    need_email?}. The ack comes once the message is stored (its id is the stored message's); a message sent again
    with the same client_id is stored once. Replies carry the stored message's id: the widget shows each id once."""
    app = request.app
    # database reads too run to their end when the citizen leaves (cut inside asyncpg, a query left its connection
    # "busy with another operation")
    ente_id = await uncancellable(default_ente_id(app))
    session: str | None = None
    try:
        hello: str | bytes | None = await asyncio.wait_for(ws.recv(), timeout=30)
        first = json.loads(hello or "{}")
    except (TimeoutError, ValueError):
        await ws.close(code=4400, reason="hello expected")
        return
    session = first.get("session") if isinstance(first, dict) else None
    if not isinstance(session, str) or not SESSION_RE.match(session):
        session = str(uuid.uuid4())

    async def history() -> str:
        return json.dumps(
            {
                "type": "history",
                "session": session,
                "messages": await uncancellable(_history(app, ente_id, session)),
                "max_file": app.ctx.settings.attachments_max_bytes,  # the widget refuses a larger file at once
            }
        )

    subscribed = asyncio.Event()
    # one writer at a time, and the ack before anything its turn causes (typing, replies): the turn starts inside
    # hub.accept, so its first live event could otherwise overtake the ack
    sending = asyncio.Lock()

    async def send(text: str) -> None:
        async with sending:
            await ws.send(text)

    async def pump() -> None:
        """Live events for this session. Subscribed before the history is read, so a reply stored in between
        arrives live (the widget drops the copy). If pub/sub fails (Redis down) the socket stays usable (messages
        are still stored and acknowledged) and the pump subscribes again; then the history goes out once more, with
        whatever was stored meanwhile."""
        delay = 0.5
        while True:
            try:
                async with app.ctx.pubsub.subscribe(f"webchat:{session}") as events:
                    if subscribed.is_set():
                        await send(await history())
                    subscribed.set()
                    delay = 0.5
                    async for event in events:
                        event.pop("channel", None)
                        await send(json.dumps(event))
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - pub/sub down: try again; the history covers the gap
                subscribed.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)

    pumper = asyncio.create_task(pump())
    last_typing = 0.0
    try:
        # the history first: a live event received meanwhile waits for it (the widget drops the copy)
        async with sending:
            await subscribed.wait()
            await ws.send(await history())
        async for raw in ws:
            try:
                data = json.loads(raw)
            except (TypeError, ValueError):
                continue
            if isinstance(data, dict) and data.get("type") == "typing":
                now = time.monotonic()
                if now - last_typing >= TYPING_EVERY:  # a hint, at most one per socket and interval
                    last_typing = now
                    await hub.citizen_typing(app, ente_id, session)
                continue
            if isinstance(data, dict) and data.get("type") == "transcript":
                answer = await uncancellable(_transcript(app, ente_id, session, str(data.get("email") or "")[:300]))
                await send(json.dumps(answer))
                continue
            if not isinstance(data, dict) or data.get("type") != "message":
                continue
            text_in = str(data.get("text") or "").strip()[:2000]
            payload = str(data.get("payload") or "")[:200]
            if not text_in and not payload:
                continue
            client_id = str(data.get("client_id") or uuid.uuid4())[:64]
            inbound = Inbound(
                channel="web",
                address=session,
                text=text_in or payload,
                channel_message_id=f"{session}:{client_id}",
                payload={"intent_payload": payload} if payload else {},
            )
            async with sending:
                accepted = await hub.accept(app, ente_id, inbound)
                await ws.send(json.dumps({"type": "ack", "client_id": client_id, "id": accepted.message_id}))
            last_typing = 0.0  # typing the next message is news again
    finally:
        pumper.cancel()


async def _transcript(app: Any, ente_id: int, session: str, email: str) -> dict[str, Any]:
    """The citizen asks for the transcript of their web conversation (the latest, open or closed) by e-mail:
    ``{type: transcript, ok, text, need_email?}`` in Italian for the widget. Without an address it goes to the
    contact's own e-mail; with none known, ``need_email`` asks the widget for one."""
    async with app.ctx.read_sessionmaker() as s:
        contact = await contacts.find_by_identity(s, ente_id=ente_id, channel="web", external_id=session)
        conv_id = (
            await s.scalar(
                select(Conversation.id)
                .where(
                    Conversation.ente_id == ente_id,
                    Conversation.contact_id == contact.id,
                    Conversation.channel == "web",
                )
                .order_by(Conversation.id.desc())
                .limit(1)
            )
            if contact is not None
            else None
        )
    if conv_id is None:
        return {"type": "transcript", "ok": False, "text": transcript.NOTHING}
    try:
        async with acting(app, Principal.system(ente_id, "channel:web"), details={"channel": "web"}) as cx:
            sent = await conversation_commands.send_transcript(cx, conversation_id=conv_id, email=email or None)
    except ValidationFailed as exc:
        if exc.fields.get("email") == "required":
            return {"type": "transcript", "ok": False, "need_email": True, "text": transcript.ASK_EMAIL}
        return {"type": "transcript", "ok": False, "text": transcript.BAD_EMAIL}
    except TooManyRequests:
        return {"type": "transcript", "ok": False, "text": transcript.TOO_SOON}
    shown = sent.address if sent.given else transcript.masked(sent.address)
    return {"type": "transcript", "ok": True, "text": transcript.SENT.format(email=shown)}


async def _history(app: Any, ente_id: int, session: str) -> list[dict[str, Any]]:
    """The open web conversation's messages, or those of the one closed lately while its satisfaction question is
    still open (the citizen reloading the page can still answer it)."""
    async with app.ctx.read_sessionmaker() as s:
        contact = await contacts.find_by_identity(s, ente_id=ente_id, channel="web", external_id=session)
        if contact is None:
            return []
        conv = await s.scalar(
            select(Conversation)
            .where(
                Conversation.ente_id == ente_id,
                Conversation.contact_id == contact.id,
                Conversation.channel == "web",
                Conversation.mode != "closed",
            )
            .order_by(Conversation.id.desc())
            .limit(1)
        )
        if conv is None:
            rating = await conversations.open_rating(s, ente_id=ente_id, contact_id=contact.id, channel="web")
            conv = await s.get(Conversation, rating.conversation_id) if rating is not None else None
        if conv is None:
            return []
        msgs = await conversations.messages(s, ente_id=ente_id, conversation_id=conv.id, include_private=False)
    return [
        {
            "id": m.id,
            "author": "citizen" if m.direction == "in" else m.author_kind,
            "text": m.text,
            "name": str((m.payload or {}).get("author_name") or "") if m.direction == "out" else "",
            "notice": str((m.payload or {}).get("notice") or "") if m.direction == "out" else "",
            # the Comune's replies carry their sanitised HTML too (the widget shows it); the citizen's own stay text
            **({"html": render.to_web(m.text)} if m.direction == "out" else {}),
            "buttons": (m.payload or {}).get("buttons", []) if m.direction == "out" else [],
            "files": files_of(app, m.id, m.attachments),
            **({"client_id": (m.channel_message_id or "").partition(":")[2]} if m.direction == "in" else {}),
        }
        for m in msgs[-50:]
    ]


@bp.post("/channels/web/upload")
@public
async def web_upload(request: Request) -> HTTPResponse:
    """A file from the widget (multipart: ``session``, ``client_id``, ``file``, optional ``text``): checked like an
    istanza's attachment, stored with its message, answered like the socket's ack ``{client_id, id, files}`` once
    both are stored. A file we do not keep is refused with 422 and an Italian message the widget shows; nothing
    is stored then. The widget may sit on another site: the answer is readable from any origin (no cookie is used,
    the session id in the form is the citizen's only credential, as on the socket)."""
    app = request.app
    cors = {"Access-Control-Allow-Origin": "*"}
    form: Any = request.form or {}
    session = str(form.get("session") or "")
    upload = request.files.get("file") if request.files else None

    def refused(message: str, field: str, reason: str) -> HTTPResponse:  # readable by the widget on any site
        error = {"code": "validation_error", "message": message, "fields": {field: reason}}
        return json_response({"error": error}, status=422, headers=cors)

    if not SESSION_RE.match(session):
        return refused("Sessione della chat non valida: ricarichi la pagina.", "session", "invalid")
    if upload is None or not upload.body:
        return refused("Nessun file ricevuto.", "file", "required")
    client_id = clean_text(str(form.get("client_id") or uuid.uuid4()))[:64]
    ente_id = await uncancellable(default_ente_id(app))
    store = chat_files.store_for(app.ctx.settings)
    described = chat_files.keep(
        store, ente_id=ente_id, seed=f"web:{session}:{client_id}:0", name=upload.name or "", body=upload.body
    )
    if described.get("refused"):
        return refused(chat_files.refusals([described], store.max_bytes)[0], "file", str(described["refused"]))
    inbound = Inbound(
        channel="web",
        address=session,
        text=str(form.get("text") or "").strip()[:2000],
        channel_message_id=f"{session}:{client_id}",
        attachments=[described],
        payload={"files": 1},
    )
    try:
        try:
            accepted = await hub.accept(app, ente_id, inbound)
        except IntegrityError:
            # the citizen's first words went on the socket a moment before: both created their contact at once
            # (PostgreSQL lets one win); the second try finds it
            accepted = await hub.accept(app, ente_id, inbound)
    except BaseException:
        store.discard()
        raise
    if accepted.duplicate:
        store.discard()
    return json_response(
        {"client_id": client_id, "id": accepted.message_id, "files": files_of(app, accepted.message_id, [described])},
        headers=cors,
    )


@bp.options("/channels/web/upload")
@public
async def web_upload_preflight(request: Request) -> HTTPResponse:
    return text(
        "",
        status=204,
        headers={
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Max-Age": "600",
        },
    )


@bp.get("/channels/web/files/<message_id:int>/<index:int>/<token:str>")
@public
async def web_file(request: Request, message_id: int, index: int, token: str) -> HTTPResponse:
    """A file of the citizen's web conversation (theirs or an operator's), by its signed link."""
    app = request.app
    secret = app.ctx.settings.secret_key.get_secret_value()
    if not hmac.compare_digest(token.encode(), file_token(secret, message_id, index).encode()):
        raise NotFound("file not found")
    async with app.ctx.read_sessionmaker() as s:
        m = await s.get(Message, message_id)
        atts = dict(chat_files.stored(m.attachments)) if m is not None and m.channel == "web" and not m.private else {}
    return serve_file(app, atts.get(index))


def serve_file(app: Any, a: dict[str, Any] | None) -> HTTPResponse:
    """A stored chat file: images inline (thumbnails), PDFs as downloads; never sniffed, never cached by a proxy."""
    if a is None:
        raise NotFound("file not found")
    root = Path(app.ctx.settings.var_dir) / "attachments"
    try:
        path = chat_files.path_of(root, str(a["key"]))
    except ValueError:
        raise NotFound("file not found") from None
    if not path.is_file():  # erased with its citizen's data
        raise NotFound("the file was erased")
    return raw(path.read_bytes(), content_type=str(a["content_type"]), headers=chat_files.headers(a))


@bp.get("/")
@public
async def demo_page(request: Request) -> HTTPResponse:
    """Demo page of the municipality with the chat widget."""
    return await file(STATIC / "demo.html", mime_type="text/html; charset=utf-8")


@bp.get("/widget.js")
@public
async def widget_js(request: Request) -> HTTPResponse:
    return await file(STATIC / "widget.js", mime_type="application/javascript; charset=utf-8")


@bp.get("/widget.css")
@public
async def widget_css(request: Request) -> HTTPResponse:
    return await file(STATIC / "widget.css", mime_type="text/css; charset=utf-8")


# Titillium Web as vendored with Bootstrap Italia (crm/console/static/vendor): the faces widget.css declares, served
# beside it for pages that do not load it themselves (a font from another origin needs CORS)
FONTS = Path(__file__).resolve().parent.parent / "crm" / "console" / "static" / "vendor" / "bootstrap-italia" / "fonts"
WIDGET_FONTS = {
    f"titillium-web-v10-latin-ext_latin-{face}.woff2": FONTS
    / "Titillium_Web"
    / f"titillium-web-v10-latin-ext_latin-{face}.woff2"
    for face in ("regular", "italic", "600", "700")
}


@bp.get("/widget-fonts/<name:str>")
@public
async def widget_font(request: Request, name: str) -> HTTPResponse:
    path = WIDGET_FONTS.get(name)
    if path is None:
        raise NotFound("no such font")
    return await file(
        path,
        mime_type="font/woff2",
        headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=604800"},
    )
