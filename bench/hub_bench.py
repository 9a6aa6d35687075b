"""Channel hub speed through the Telegram webhook (real HTTP, real python-telegram-bot parsing, fake Telegram API):
1) messages/s the hub accepts and stores with Rasa out of the loop (conversations already with the operators);
2) end-to-end reply latency with the real Rasa + action server in the loop, at 1 and N concurrent conversations.
Run: .venv/bin/python bench/hub_bench.py [--messages 400] [--concurrent 50]"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.channels.conftest import TG_SECRET, TG_TOKEN, _start_bot, _stop, rasa_available  # noqa: E402
from tests.channels.fakes import FakeTelegram  # noqa: E402
from tests.conftest import DB, SECRET, SERVICE_TOKEN, free_port, make_ente, start_server  # noqa: E402


def update(uid: int, user: int, text: str) -> dict:  # type: ignore[type-arg]
    return {
        "update_id": uid,
        "message": {
            "message_id": uid,
            "date": 1,
            "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": False, "first_name": "B"},
            "text": text,
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=400)
    ap.add_argument("--concurrent", type=int, default=50)
    ap.add_argument("--e2e", type=int, default=100, help="messages for the latency runs")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    url = f"sqlite:///{tmp / 'hub.db'}"
    from crm.migrations import upgrade

    upgrade(url)
    tg = FakeTelegram()
    port = free_port()
    env = {
        **os.environ,
        "URP_DATABASE_URL": url,
        "URP_SECRET_KEY": SECRET,
        "URP_SERVICE_TOKEN": SERVICE_TOKEN,
        "URP_SCHEDULER": "false",
        "URP_VAR_DIR": str(tmp / "var"),
        "URP_DEFAULT_ENTE": "bench",
        "URP_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "TELEGRAM_BOT_TOKEN": TG_TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
        "TELEGRAM_API_BASE": tg.url + "/bot",
    }
    make_ente(DB(url), slug="bench")
    procs, results = [], {}
    if rasa_available():
        procs, rasa_url = _start_bot(env, port, tmp, url)
        env["URP_RASA_URL"] = rasa_url
    else:
        env["URP_RASA_URL"] = f"http://127.0.0.1:{free_port()}"
    srv = start_server(env, tmp / "crm.log", port=port)
    hook = srv.url + "/channels/telegram/webhook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    counter = iter(range(1, 10**9))
    try:
        # 1) store-and-queue throughput: hand every conversation to the operators first
        users = list(range(5_000_000, 5_000_000 + args.concurrent))
        with httpx.Client(timeout=60) as c:
            for u in users:
                c.post(hook, json=update(next(counter), u, "voglio parlare con un operatore"), headers=headers)
        for conc in (1, args.concurrent):
            n = args.messages

            def send(i: int) -> int:
                with httpx.Client(timeout=60) as c:
                    return c.post(
                        hook, json=update(next(counter), users[i % len(users)], f"messaggio {i}"), headers=headers
                    ).status_code

            t = time.perf_counter()
            with ThreadPoolExecutor(conc) as pool:
                codes = list(pool.map(send, range(n)))
            results[f"store_msgs_per_s_c{conc}"] = round(n / (time.perf_counter() - t), 1)
            results[f"store_errors_c{conc}"] = sum(1 for x in codes if x != 200)
        # 2) end-to-end with Rasa: a fresh conversation per sender, time until the reply reaches Telegram
        if procs:
            for conc in (1, args.concurrent):
                lat = []

                def ask(i: int, conc: int = conc) -> float:
                    user = 6_000_000 + conc * 100_000 + i
                    before = time.perf_counter()
                    with httpx.Client(timeout=120) as c:
                        c.post(hook, json=update(next(counter), user, "sei un bot?"), headers=headers)
                    got = tg.wait_for(lambda r: r["chat_id"] == user, timeout=120)
                    return (time.perf_counter() - before) * 1000 if got else float("inf")

                with ThreadPoolExecutor(conc) as pool:
                    lat = sorted(pool.map(ask, range(args.e2e if conc > 1 else args.e2e // 4)))
                results[f"e2e_p50_ms_c{conc}"] = round(statistics.median(lat), 1)
                results[f"e2e_p95_ms_c{conc}"] = round(lat[int(len(lat) * 0.95) - 1], 1)
        else:
            results["e2e"] = "skipped: no .venv-rasa or trained model"
        print(json.dumps(results))
    finally:
        _stop(srv.proc)
        for p in procs:
            _stop(p)
        tg.close()


if __name__ == "__main__":
    main()
