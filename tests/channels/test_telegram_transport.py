"""python-telegram-bot over our aiohttp transport keeps the library's contract: the hub decides "retry later" or "give
up" from TimedOut / NetworkError / BadRequest exactly as with the library's own httpx transport, and uploads reach
the Bot API as multipart with their names and types. Real Bot objects against servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import BadRequest, NetworkError, TimedOut

from channels.telegram_transport import AiohttpRequest
from tests.conftest import free_port

pytestmark = pytest.mark.db_independent

TOKEN = "123:abc"


async def _bot_api(seen: list[dict[str, Any]]) -> tuple[web.AppRunner, int]:
    async def send_message(request: web.Request) -> web.Response:
        form = await request.post()
        seen.append({"method": "sendMessage", "fields": dict(form)})
        if form["chat_id"] == "0":
            refusal = {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
            return web.json_response(refusal, status=400)
        message = {"message_id": 7, "date": 0, "chat": {"id": int(str(form["chat_id"])), "type": "private"}}
        return web.json_response({"ok": True, "result": {**message, "text": form["text"]}})

    async def send_document(request: web.Request) -> web.Response:
        reader = await request.multipart()
        parts = {}
        async for part in reader:
            parts[part.name] = {
                "filename": part.filename,
                "type": part.headers.get("Content-Type"),
                "body": bytes(await part.read()),
            }
        seen.append({"method": "sendDocument", "parts": parts})
        message = {"message_id": 8, "date": 0, "chat": {"id": 42, "type": "private"}}
        return web.json_response({"ok": True, "result": message})

    async def get_me(request: web.Request) -> web.Response:  # Bot.initialize asks who it is
        return web.json_response({"ok": True, "result": {"id": 123, "is_bot": True, "first_name": "URP"}})

    app = web.Application()
    app.router.add_post(f"/bot{TOKEN}/getMe", get_me)
    app.router.add_post(f"/bot{TOKEN}/sendMessage", send_message)
    app.router.add_post(f"/bot{TOKEN}/sendDocument", send_document)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


async def test_sends_uploads_and_refusals_keep_the_library_contract() -> None:
    seen: list[dict[str, Any]] = []
    runner, port = await _bot_api(seen)
    try:
        async with Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=AiohttpRequest()) as bot:
            msg = await bot.send_message(chat_id=42, text="Buongiorno, <b>come posso aiutarla?</b>", parse_mode="HTML")
            assert msg.message_id == 7 and msg.text == "Buongiorno, <b>come posso aiutarla?</b>"
            assert seen[-1]["fields"]["parse_mode"] == "HTML"
            # a PDF receipt: multipart, its file name and type kept, the other fields beside it
            doc = await bot.send_document(chat_id=42, document=b"%PDF-1.4 ricevuta", filename="ricevuta.pdf")
            assert doc.message_id == 8
            parts = seen[-1]["parts"]
            assert parts["chat_id"]["body"] == b"42"
            upload = next(p for p in parts.values() if p["filename"] == "ricevuta.pdf")
            assert upload["body"] == b"%PDF-1.4 ricevuta" and upload["type"] == "application/pdf"
            with pytest.raises(BadRequest, match="(?i)chat not found"):  # the Bot API's refusal: permanent for the hub
                await bot.send_message(chat_id=0, text="x")
    finally:
        await runner.cleanup()


async def test_a_silent_server_is_a_timeout_and_a_closed_port_a_network_error() -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await asyncio.sleep(30)
        writer.close()

    port = free_port()
    server = await asyncio.start_server(never_answer, "127.0.0.1", port)
    request = AiohttpRequest(read_timeout=0.3)
    await request.initialize()
    try:
        with pytest.raises(TimedOut):  # may have been delivered: the hub records it as unsure, never as refused
            await request.post(f"http://127.0.0.1:{port}/bot{TOKEN}/sendMessage")
        closed = free_port()  # nothing listens there
        with pytest.raises(NetworkError) as caught:
            await request.post(f"http://127.0.0.1:{closed}/bot{TOKEN}/sendMessage")
        assert not isinstance(caught.value, TimedOut) and "aiohttp.ClientConnectorError" in str(caught.value)
    finally:
        await request.shutdown()
        server.close()
    with pytest.raises(RuntimeError, match="not initialized"):  # shut down: no request goes out
        await request.do_request(f"http://127.0.0.1:{closed}/x", "POST")
