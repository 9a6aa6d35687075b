"""Fake Twilio and Telegram API servers on 127.0.0.1: the real clients talk to them over real HTTP."""

from __future__ import annotations

import html
import json
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_next = 0  # answer 500 to the next N sends (an outage)
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length).decode()
                ctype = self.headers.get("content-type", "")
                if "json" in ctype:
                    body = json.loads(raw or "{}")
                else:
                    body = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
                status, reply = outer.handle(self.path, body, dict(self.headers))
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST  # noqa: N815

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def handle(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        raise NotImplementedError

    def record(self, item: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(item)

    def wait_for(self, predicate: Any, timeout: float = 30.0, count: int = 1) -> list[dict[str, Any]]:
        """Requests matching predicate, waiting (bounded) for at least ``count`` to arrive."""
        deadline = time.monotonic() + timeout
        found: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            with self._lock:
                found = [r for r in self.requests if predicate(r)]
            if len(found) >= count:
                return found
            time.sleep(0.1)
        return []

    def close(self) -> None:
        self.httpd.shutdown()


class FakeTwilio(_Server):
    """POST /2010-04-01/Accounts/{sid}/Messages.json like Twilio's REST API."""

    counter = 0

    def handle(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        if not path.startswith("/2010-04-01/Accounts/") or not path.endswith("/Messages.json"):
            return 404, {"code": 20404, "message": "not found", "status": 404}
        if not headers.get("Authorization", "").startswith("Basic "):
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        if self.fail_next > 0:
            self.fail_next -= 1
            return 500, {"code": 20500, "message": "Internal Server Error", "status": 500}
        FakeTwilio.counter += 1
        sid = f"SM{FakeTwilio.counter:032d}"
        self.record({"sid": sid, **body})
        account = path.split("/")[3]
        return 201, {
            "sid": sid,
            "account_sid": account,
            "to": body.get("To"),
            "from": body.get("From"),
            "body": body.get("Body"),
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "date_created": "Mon, 23 Nov 2026 10:00:00 +0000",
            "uri": f"{path[:-5]}/{sid}.json",
        }


TG_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "tg-emoji",
    "code",
    "pre",
    "blockquote",
}
_TG_TOKEN = re.compile(
    r"<(/?)([a-z-]+)((?:\s+[a-z-]+(?:=\"[^\"<>]*\")?)*)\s*>|&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);"
)


def telegram_html_error(text: str) -> str | None:
    """What the Bot API says of a text sent with parse_mode=HTML (its documented rules: only its tags, properly
    nested, every other <, > and & written as an entity), or None when it reads it."""
    open_tags: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c not in "<>&":
            i += 1
            continue
        m = _TG_TOKEN.match(text, i)
        if m is None:
            return f"Bad Request: can't parse entities: unexpected {c!r} at byte offset {i}"
        if m.group(2):
            closing, tag = bool(m.group(1)), m.group(2)
            if tag not in TG_TAGS:
                return f'Bad Request: can\'t parse entities: unsupported start tag "{tag}" at byte offset {i}'
            if closing:
                if not open_tags or open_tags.pop() != tag:
                    return f"Bad Request: can't parse entities: unmatched end tag at byte offset {i}"
            else:
                if tag == "a" and not re.search(r'href="[^"]+"', m.group(3) or ""):
                    return "Bad Request: can't parse entities: a link without href"
                open_tags.append(tag)
        i = m.end()
    if open_tags:
        return f"Bad Request: can't parse entities: can't find end tag corresponding to start tag {open_tags[-1]}"
    return None


def telegram_shown(text: str, parse_mode: str | None) -> str:
    """The text as the citizen's Telegram shows it: tags gone, entities read."""
    return html.unescape(re.sub(r"<[^>]*>", "", text)) if parse_mode == "HTML" else text


class FakeTelegram(_Server):
    """Bot API: /bot<token>/<method>."""

    pending_updates: list[dict[str, Any]] = []
    refuse_markup_of: str | None = None  # refuse texts in a parse mode containing this (as Telegram refuses markup)
    per_chat: dict[int, int] = {}  # like the real Bot API, message ids count per chat (1, 2, 3... in every chat)

    def handle(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if len(parts) < 2 or not parts[0].startswith("bot"):
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        method = parts[1]
        if method == "getMe":
            return 200, {"ok": True, "result": {"id": 42, "is_bot": True, "first_name": "URP", "username": "urp_bot"}}
        if method == "sendMessage":
            if self.fail_next > 0:
                self.fail_next -= 1
                return 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}
            parse_mode = body.get("parse_mode")
            error = telegram_html_error(body.get("text") or "") if parse_mode == "HTML" else None
            if parse_mode and self.refuse_markup_of and self.refuse_markup_of in (body.get("text") or ""):
                error = "Bad Request: can't parse entities: unsupported start tag at byte offset 0"
            if error:
                self.record(
                    {
                        "method": method,
                        "chat_id": int(body["chat_id"]),
                        "refused": error,
                        "text": None,
                        "attempted": body.get("text"),
                        "parse_mode": parse_mode,
                    }
                )
                return 400, {"ok": False, "error_code": 400, "description": error}
            chat = int(body["chat_id"])
            FakeTelegram.per_chat[chat] = FakeTelegram.per_chat.get(chat, 0) + 1
            markup = body.get("reply_markup")
            if isinstance(markup, str):
                markup = json.loads(markup)
            self.record(
                {
                    "method": method,
                    "chat_id": int(body["chat_id"]),
                    "text": body.get("text"),
                    "parse_mode": parse_mode,
                    "shown": telegram_shown(body.get("text") or "", parse_mode),
                    "reply_markup": markup,
                }
            )
            return 200, {
                "ok": True,
                "result": {
                    "message_id": FakeTelegram.per_chat[chat],
                    "date": 1795400000,
                    "chat": {"id": int(body["chat_id"]), "type": "private"},
                    "text": body.get("text"),
                },
            }
        if method == "getUpdates":
            offset = int(body.get("offset") or 0)
            return 200, {"ok": True, "result": [u for u in self.pending_updates if u["update_id"] >= offset]}
        if method == "answerCallbackQuery":
            return 200, {"ok": True, "result": True}
        return 200, {"ok": True, "result": True}
