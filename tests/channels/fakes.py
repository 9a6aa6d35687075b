"""Fake Twilio and Telegram API servers on 127.0.0.1: the real clients talk to them over real HTTP."""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import html
import json
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server:
    # HTTP/1.1 with persistent connections, as the real providers answer; off by default (the tests' clients and
    # their timings were written against one connection per request)
    keep_alive = False

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_next = 0  # answer 500 to the next N sends (an outage)
        self.fail_files = 0  # answer 500 to the next N file downloads (the provider's file server, once down)
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if outer.keep_alive else "HTTP/1.0"
            # the headers and the body go out in two writes: on a kept connection Nagle held the body until the
            # client's delayed ACK, 40 ms an answer (a closed connection flushes it)
            disable_nagle_algorithm = outer.keep_alive

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                ctype = self.headers.get("content-type", "")
                served = outer.serve(self.path, dict(self.headers))
                if served is not None:  # a file (Telegram's downloads, Twilio's media)
                    code, content, content_type = served
                    self.send_response(code)
                    self.send_header("content-type", content_type)
                    self.send_header("content-length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content)
                    return
                body: dict[str, Any]
                if "json" in ctype:
                    body = json.loads(raw.decode() or "{}")
                elif "multipart/form-data" in ctype:
                    body = _multipart(raw, ctype)
                else:
                    body = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
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

    def serve(self, path: str, headers: dict[str, str]) -> tuple[int, bytes, str] | None:
        """A file at this path (status, content, type), or None for an API call."""
        return None

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


def _multipart(raw: bytes, ctype: str) -> dict[str, Any]:
    """A multipart/form-data body (python-telegram-bot's uploads): fields as text, files as
    {filename, content_type, content}."""
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + raw)
    out: dict[str, Any] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        content = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            out[str(name)] = {"filename": filename, "content_type": part.get_content_type(), "content": content}
        else:
            out[str(name)] = content.decode()
    return out


class FakeTwilio(_Server):
    """POST /2010-04-01/Accounts/{sid}/Messages.json like Twilio's REST API; GET of an MMS's media (``media``: path ->
    (content, content type), served only with the account's Basic credentials, as Twilio does when media is
    protected)."""

    counter = 0

    def __init__(self) -> None:
        super().__init__()
        self.media: dict[str, tuple[bytes, str]] = {}
        self.media_gets: list[dict[str, str]] = []

    def serve(self, path: str, headers: dict[str, str]) -> tuple[int, bytes, str] | None:
        if "/Media/" not in path:
            return None
        self.media_gets.append({"path": path, "authorization": headers.get("Authorization", "")})
        if self.fail_files > 0:
            self.fail_files -= 1
            return 500, b'{"code": 20500, "message": "Internal Server Error"}', "application/json"
        if not headers.get("Authorization", "").startswith("Basic "):
            return 401, b'{"code": 20003, "message": "Authenticate"}', "application/json"
        if path not in self.media:
            return 404, b'{"code": 20404, "message": "not found"}', "application/json"
        content, ctype = self.media[path]
        return 200, content, ctype

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
    files: dict[str, bytes] = {}  # file_id -> content: what getFile and the file download give
    file_gets: list[str] = []  # the file ids downloaded, in order (a failed download too)

    def serve(self, path: str, headers: dict[str, str]) -> tuple[int, bytes, str] | None:
        if not path.startswith("/file/bot"):
            return None
        file_id = path.rsplit("/", 1)[-1].split(".", 1)[0]
        self.file_gets.append(file_id)
        if self.fail_files > 0:
            self.fail_files -= 1
            return 500, b"Internal Server Error", "text/plain"
        if file_id not in self.files:
            return 404, b"Not Found", "text/plain"
        return 200, self.files[file_id], "application/octet-stream"

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
        if method == "getFile":
            file_id = str(body.get("file_id") or "")
            if file_id not in self.files:
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}
            return 200, {
                "ok": True,
                "result": {
                    "file_id": file_id,
                    "file_unique_id": f"u{file_id}",
                    "file_size": len(self.files[file_id]),
                    "file_path": f"documents/{file_id}.bin",
                },
            }
        if method in ("sendPhoto", "sendDocument"):
            field = "photo" if method == "sendPhoto" else "document"
            upload = body.get(field)
            if not isinstance(upload, dict):
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: there is no file"}
            chat = int(body["chat_id"])
            FakeTelegram.per_chat[chat] = FakeTelegram.per_chat.get(chat, 0) + 1
            self.record(
                {
                    "method": method,
                    "chat_id": chat,
                    "text": body.get("caption"),
                    "filename": upload["filename"],
                    "size": len(upload["content"]),
                    "sha256": hashlib.sha256(upload["content"]).hexdigest(),
                }
            )
            return 200, {
                "ok": True,
                "result": {
                    "message_id": FakeTelegram.per_chat[chat],
                    "date": 1795400000,
                    "chat": {"id": chat, "type": "private"},
                },
            }
        if method == "getUpdates":
            offset = int(body.get("offset") or 0)
            return 200, {"ok": True, "result": [u for u in self.pending_updates if u["update_id"] >= offset]}
        if method == "answerCallbackQuery":
            return 200, {"ok": True, "result": True}
        if method == "sendChatAction":  # "typing…" under the chat's name (an operator writing)
            self.record({"method": method, "chat_id": int(body["chat_id"]), "action": body.get("action"), "text": None})
            return 200, {"ok": True, "result": True}
        return 200, {"ok": True, "result": True}
