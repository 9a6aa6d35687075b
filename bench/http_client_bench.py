"""CPU a request costs the client, httpx against aiohttp, as the CRM and the action server make them: a JSON POST
(the hub's turn to Rasa, the actions' calls to the CRM) and python-telegram-bot's send_message through its httpx
transport and through ours (channels/telegram_transport.py), each with 1, 6 and 20 requests in flight.

A server on 127.0.0.1 in another process answers like Rasa's REST channel and the Bot API; only this process's CPU
is counted (getrusage), so the figures hold on a busy machine better than times would. Rounds alternate the
clients. Prints one JSON line: milliseconds of CPU a request, per client, per concurrency, per round.
Run: .venv/bin/python bench/http_client_bench.py [--requests 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SERVER = r"""
import json, sys, time
from aiohttp import web
REPLY = json.dumps([{"recipient_id": "x", "text": "Per rinnovare la carta d'identità elettronica prenoti un "
    "appuntamento all'Ufficio Anagrafe. " * 3}, {"recipient_id": "x", "text": "Le è stata utile questa risposta?",
    "buttons": [{"title": "Sì", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]}])
async def rasa(request):
    await request.read()
    return web.Response(text=REPLY, content_type="application/json")
async def send_message(request):
    form = await request.post()
    message = {"message_id": 7, "date": int(time.time()), "chat": {"id": int(form["chat_id"]), "type": "private"},
               "text": form["text"]}
    return web.Response(text=json.dumps({"ok": True, "result": message}), content_type="application/json")
async def get_me(request):
    me = {"id": 1, "is_bot": True, "first_name": "URP", "username": "urp_bot"}
    return web.Response(text=json.dumps({"ok": True, "result": me}), content_type="application/json")
app = web.Application()
app.router.add_post("/webhooks/rest/webhook", rasa)
app.router.add_post("/bot123:abc/sendMessage", send_message)
app.router.add_post("/bot123:abc/getMe", get_me)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""

PAYLOAD = {
    "sender": "telegram:123456",
    "message": "come rinnovo la carta d'identità?",
    "metadata": {"channel": "telegram", "turn_token": "x" * 200},
}
TEXT = "Per rinnovare la <b>carta d'identità</b> prenoti un appuntamento all'Ufficio Anagrafe. " * 2


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def measure(call: Callable[[], Awaitable[Any]], n: int, in_flight: int) -> float:
    """CPU milliseconds a request, ``in_flight`` at a time (after a warm-up that opens the connections)."""
    await asyncio.gather(*(call() for _ in range(in_flight)))
    gate = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with gate:
            await call()

    start = cpu_s()
    await asyncio.gather(*(one() for _ in range(n)))
    return round((cpu_s() - start) / n * 1000, 3)


async def round_of(port: int, n: int, levels: list[int]) -> dict[str, dict[int, float]]:
    import aiohttp
    import httpx
    from telegram import Bot
    from telegram.request import HTTPXRequest

    from channels.telegram_transport import AiohttpRequest

    url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"
    out: dict[str, dict[int, float]] = {}
    async with httpx.AsyncClient(timeout=15, limits=httpx.Limits(max_connections=64)) as hx:

        async def httpx_post() -> None:
            (await hx.post(url, params={"token": "t"}, json=PAYLOAD)).json()

        out["json_post_httpx"] = {c: await measure(httpx_post, n, c) for c in levels}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as ah:

        async def aiohttp_post() -> None:
            async with ah.post(url, params={"token": "t"}, json=PAYLOAD) as r:
                json.loads(await r.read())

        out["json_post_aiohttp"] = {c: await measure(aiohttp_post, n, c) for c in levels}
    for name, request in (
        ("telegram_send_httpx", HTTPXRequest(connection_pool_size=32, pool_timeout=10)),
        ("telegram_send_aiohttp", AiohttpRequest(connection_pool_size=32, pool_timeout=10)),
    ):
        async with Bot("123:abc", base_url=f"http://127.0.0.1:{port}/bot", request=request) as bot:

            async def send(bot: Bot = bot) -> None:
                await bot.send_message(chat_id=42, text=TEXT, parse_mode="HTML")

            out[name] = {c: await measure(send, n, c) for c in levels}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from tests.conftest import free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    try:
        time.sleep(1.5)
        import uvloop

        rounds = [uvloop.run(round_of(port, args.requests, [1, 6, 20])) for _ in range(args.rounds)]
    finally:
        server.terminate()
        server.wait(10)
    print(json.dumps({"requests": args.requests, "cpu_ms_per_request": rounds}))


if __name__ == "__main__":
    main()
