"""The real action server in a subprocess, called over HTTP exactly as Rasa calls it (POST /webhook with a tracker),
so action tests need no trained model and no Rasa."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from actions.common import fill
from channels.turn_token import METADATA_KEY, Turn, sender_of, sign
from tests.conftest import ACTIONS_SECRET, ROOT, free_port, wait_http

DOMAIN = yaml.safe_load((ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))


def start_action_server(port: int, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``python -m actions`` (as `urp run` starts it) on ``port`` with ``env`` added to a clean environment (no URP_
    variables of the caller's) and the tests' turn secret; its output goes to ``log``."""
    full = {
        **{k: v for k, v in os.environ.items() if not k.startswith("URP_")},
        "URP_ACTIONS_SECRET": ACTIONS_SECRET,
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "actions", "--port", str(port)],
            cwd=ROOT,
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@contextmanager
def action_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """The action server with ``env`` (``start_action_server``); yields the webhook URL. The log must hold no
    traceback."""
    port = free_port()
    proc = start_action_server(port, log, env)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=60, proc=proc)
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, text[-3000:]


def signed(turn: Turn, secret: str = ACTIONS_SECRET, **kw: Any) -> dict[str, Any]:
    """The metadata the hub puts on a message of this turn."""
    return {METADATA_KEY: sign(turn, secret, **kw)}


def call(
    url: str,
    action: str,
    text: str,
    intent: str,
    *,
    metadata: dict[str, Any],
    sender: str,
    slots: dict[str, Any] | None = None,
    active_loop: str | None = None,
    extracted: dict[str, Any] | None = None,
    entities: list[dict[str, Any]] | None = None,
    history: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run one action as Rasa would. ``extracted``: slots Rasa filled from this message before calling a form's
    validation action; ``history``: earlier events (previous user turns and bot replies)."""
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0},
        "entities": entities or [],
        "metadata": metadata,
    }
    events = [*(history or []), {"event": "user", "text": text, "parse_data": latest, "metadata": metadata}]
    events += [{"event": "slot", "name": k, "value": v} for k, v in (extracted or {}).items()]
    tracker = {
        "sender_id": sender,
        "slots": {"requested_slot": None, **(slots or {}), **(extracted or {})},
        "latest_message": latest,
        "events": events,
        "paused": False,
        "followup_action": None,
        "active_loop": {"name": active_loop} if active_loop else {},
        "latest_action_name": "action_listen",
    }
    r = httpx.post(
        url,
        json={"next_action": action, "sender_id": sender, "tracker": tracker, "domain": DOMAIN, "version": "3.6.21"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return r.json()


def call_as(url: str, turn: Turn, action: str, text: str, intent: str, **kw: Any) -> dict[str, Any]:
    """Run one action in a turn the hub signed for ``turn``."""
    return call(url, action, text, intent, metadata=signed(turn), sender=sender_of(turn.conversation_id), **kw)


def rendered(message: dict[str, Any]) -> str:
    """A message as Rasa renders it: a domain response with the variables the action passed, or plain text."""
    if message.get("response"):
        variants = DOMAIN["responses"][message["response"]]  # a KeyError here is a response missing in the domain
        return fill(str(variants[0].get("text") or ""), message)
    return str(message.get("text") or "")


def said(body: dict[str, Any]) -> str:
    return " ".join(rendered(m) for m in body.get("responses", []))


def buttons_of(body: dict[str, Any]) -> list[dict[str, str]]:
    """Every button offered: the response's own (in the domain) and those the action added."""
    out: list[dict[str, str]] = []
    for m in body.get("responses", []):
        if m.get("response"):
            out += DOMAIN["responses"][m["response"]][0].get("buttons") or []
        out += m.get("buttons") or []
    return out


def slots_set(body: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in body.get("events", []) if e.get("event") == "slot"}


def listening(port: int) -> set[str]:
    """Local addresses of the sockets listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hex_port = local.split(":")
            if int(hex_port, 16) == port and state == "0A":  # 0A = LISTEN
                found.add(addr)
    return found


LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1 as /proc writes them
