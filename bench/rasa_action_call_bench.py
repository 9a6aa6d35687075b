"""Rasa's CPU for one call of the action server: the request (a 4-turn tracker's state, about 18 KB of JSON, as Rasa
sends it), the answer's validation against Rasa's schema. Three variants of Rasa's code, each in its own process,
alternated three times, against one aiohttp server in another process (its CPU is not counted):

- ``shipped``: Rasa 3.6 as installed;
- ``schema_once``: only the answer schema checked against its metaschema once (``scripts/rasa_serve.validate``);
- ``patched``: everything ``scripts/rasa_serve.install`` does (also one kept-alive session per endpoint, ujson).

Run: .venv-rasa/bin/python bench/rasa_action_call_bench.py [--calls 600]. Prints one JSON line: CPU ms per call per
run, their medians, and each variant's median over the patched one's (a ratio holds on a noisy machine)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("shipped", "schema_once", "patched")


def serve(port: int) -> None:
    from aiohttp import web

    answer = {
        "events": [{"event": "slot", "name": f"s{k}", "value": "anagrafe", "timestamp": None} for k in range(4)],
        "responses": [{"text": "Buongiorno, come posso aiutarla?"}],
    }

    async def webhook(request: Any) -> Any:
        await request.read()
        return web.json_response(answer)

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


def tracker_state() -> dict[str, Any]:
    """What Rasa posts for a custom action after four turns: every event of the session, the domain."""

    def user(i: int) -> dict[str, Any]:
        parse = {
            "text": "come rinnovo la carta d'identità?",
            "intent": {"name": "ask_info", "confidence": 0.93},
            "entities": [],
            "intent_ranking": [{"name": f"intent_{k}", "confidence": round(0.9 / (k + 1), 6)} for k in range(10)],
            "response_selector": {"all_retrieval_intents": [], "default": {"response": {}, "ranking": []}},
        }
        return {
            "event": "user",
            "timestamp": 1764750000.0 + i,
            "text": parse["text"],
            "input_channel": "rest",
            "message_id": f"{i:032x}",
            "parse_data": parse,
            "metadata": {"urp_turn": "t" * 180},
        }

    events: list[dict[str, Any]] = []
    for i in range(4):
        events += [
            {"event": "action", "timestamp": 1764750000.0, "name": "action_listen", "policy": None, "confidence": None},
            user(i),
            {"event": "user_featurization", "timestamp": 1764750000.0, "use_text_for_featurization": False},
            {"event": "action", "timestamp": 1764750000.0, "name": "action_kb_answer", "policy": "RulePolicy"},
            {"event": "bot", "timestamp": 1764750000.0, "text": "Carta d'identità: " + "testo " * 80, "data": {}},
            {"event": "slot", "timestamp": 1764750000.0, "name": "kb_last_slug", "value": "cie"},
        ]
    return {
        "next_action": "action_kb_answer",
        "sender_id": "conv-1",
        "tracker": {
            "sender_id": "conv-1",
            "slots": {f"slot_{k}": None for k in range(20)},
            "latest_message": user(4)["parse_data"],
            "events": events,
            "paused": False,
            "active_loop": {},
        },
        "domain": {
            "intents": [f"intent_{k}" for k in range(40)],
            "responses": {f"utter_{k}": [{"text": "x" * 100}] for k in range(60)},
        },
        "version": "3.6.21",
    }


def measure(variant: str, port: int, calls: int) -> float:
    sys.path.insert(0, str(ROOT / "scripts"))
    import rasa_serve

    if variant == "schema_once":
        import jsonschema

        jsonschema.validate = rasa_serve.validate
    elif variant == "patched":
        rasa_serve.install()
    from rasa.core.actions.action import RemoteAction
    from rasa.utils.endpoints import EndpointConfig

    endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook")
    action = RemoteAction("action_kb_answer", endpoint)
    body = tracker_state()

    async def run() -> float:
        for _ in range(30):  # warm: imports, the schema's check
            action._validate_action_result(await endpoint.request(json=body, method="post"))
        started = time.process_time()
        for _ in range(calls):
            action._validate_action_result(await endpoint.request(json=body, method="post"))
        spent = (time.process_time() - started) / calls * 1000
        if variant == "patched":
            await rasa_serve.close_sessions()
        return spent

    return asyncio.run(run())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=600)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # one measuring child
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.port)
        return
    if args.variant:
        print(json.dumps({"cpu_ms_per_call": measure(args.variant, args.port, args.calls)}))
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false"}
    me = [sys.executable, str(Path(__file__).resolve())]
    server = subprocess.Popen([*me, "--serve", "--port", str(port)], env=env, cwd=ROOT)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        runs: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for _ in range(args.runs):
            for v in VARIANTS:
                out = subprocess.run(
                    [*me, "--variant", v, "--port", str(port), "--calls", str(args.calls)],
                    env=env,
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs[v].append(round(json.loads(out.stdout.strip().splitlines()[-1])["cpu_ms_per_call"], 3))
    finally:
        server.terminate()
        server.wait(timeout=10)
    medians = {v: round(statistics.median(r), 3) for v, r in runs.items()}
    print(
        json.dumps(
            {
                "bench": "rasa_action_call",
                "payload_bytes": len(json.dumps(tracker_state())),
                "calls_per_run": args.calls,
                "cpu_ms_per_call": runs,
                "median": medians,
                "over_patched": {v: round(m / medians["patched"], 2) for v, m in medians.items()},
                "loadavg": os.getloadavg(),
            }
        )
    )


if __name__ == "__main__":
    main()
