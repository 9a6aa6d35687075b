"""A fake App IO server on 127.0.0.1 that holds requests to the public contract of ``pagopa/io-functions-services``
(``openapi/index.yaml``, Swagger 2.0, whose definitions live in ``pagopa/io-functions-commons``
``openapi/definitions.yaml``): ``getProfile`` and ``submitMessageforUserWithFiscalCodeInBody``, the
``Ocp-Apim-Subscription-Key`` header. The schemas below are written out from those documents' definitions
(NewMessage, MessageContent, MessageSubject, MessageBodyMarkdown, Timestamp, TimeToLiveSeconds, the FiscalCode
parameter pattern, LimitedProfile); the documents themselves are not copied here (their licence could not be
checked from this workplace). Anything that does not validate answers 400 with a ProblemJson, as IO does."""

from __future__ import annotations

import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonschema

FISCAL_CODE = r"^[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]$"
DEFINITIONS: dict[str, Any] = {
    "FiscalCode": {"type": "string", "pattern": FISCAL_CODE},
    "MessageSubject": {"type": "string", "minLength": 10, "maxLength": 120},
    "MessageBodyMarkdown": {"type": "string", "minLength": 80, "maxLength": 10000},
    "Timestamp": {"type": "string", "format": "date-time"},
    "TimeToLiveSeconds": {"type": "integer", "minimum": 3600, "maximum": 604800},
    "MessageContent": {"type": "object", "required": ["subject", "markdown"], "properties": {
        "subject": {"$ref": "#/definitions/MessageSubject"}, "markdown": {"$ref": "#/definitions/MessageBodyMarkdown"},
        "due_date": {"$ref": "#/definitions/Timestamp"}, "payment_data": {"type": "object"},
        "prescription_data": {"type": "object"}}},
    "NewMessage": {"type": "object", "required": ["content"], "properties": {
        "time_to_live": {"$ref": "#/definitions/TimeToLiveSeconds"},
        "content": {"$ref": "#/definitions/MessageContent"},
        "default_addresses": {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}},
        "fiscal_code": {"$ref": "#/definitions/FiscalCode"}}},
    "LimitedProfile": {"type": "object", "required": ["sender_allowed"], "properties": {
        "sender_allowed": {"type": "boolean"}, "preferred_languages": {"type": "array"}}},
}


def validator(name: str) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator({"$ref": f"#/definitions/{name}", "definitions": DEFINITIONS},
                                      format_checker=jsonschema.FormatChecker())


class FakeIO:
    """``profiles``: fiscal code -> sender_allowed (absent: 404). ``messages``: what was accepted. ``rejected``:
    requests refused as not conforming (a test asserts it stays empty)."""

    def __init__(self, key: str, profiles: dict[str, bool]) -> None:
        self.key = key
        self.profiles = profiles
        self.messages: list[dict[str, Any]] = []
        self.rejected: list[str] = []
        self.profile_calls: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _answer(self, status: int, body: dict[str, Any] | None = None) -> None:
                data = json.dumps(body or {}).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json" if status < 400 else "application/problem+json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                if self.headers.get("Ocp-Apim-Subscription-Key") != fake.key:
                    self._answer(401, {"title": "Unauthorized", "status": 401})
                    return False
                return True

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                m = re.fullmatch(r"/api/v1/profiles/([A-Z0-9]+)", self.path)
                if not m or not self._authorised():
                    return None if m else self._answer(404, {"title": "Not found", "status": 404})
                cf = m.group(1)
                if not re.match(FISCAL_CODE, cf):
                    fake.rejected.append(f"getProfile: bad fiscal code {cf}")
                    return self._answer(400, {"title": "Invalid fiscal code", "status": 400})
                fake.profile_calls.append(cf)
                if cf not in fake.profiles:
                    return self._answer(404, {"title": "Profile not found", "status": 404})
                body = {"sender_allowed": fake.profiles[cf], "preferred_languages": ["it_IT"]}
                validator("LimitedProfile").validate(body)
                return self._answer(200, body)

            def do_POST(self) -> None:  # noqa: N802
                if self.path != "/api/v1/messages":
                    return self._answer(404, {"title": "Not found", "status": 404})
                if not self._authorised():
                    return None
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                    validator("NewMessage").validate(body)
                    if "fiscal_code" not in body:
                        raise jsonschema.ValidationError("fiscal_code is required in the body of this operation")
                except (ValueError, jsonschema.ValidationError) as exc:
                    fake.rejected.append(f"submitMessage: {str(exc)[:200]}")
                    return self._answer(400, {"title": "Invalid payload", "status": 400, "detail": str(exc)[:200]})
                if fake.profiles.get(body["fiscal_code"]) is not True:
                    fake.rejected.append("submitMessage without an allowed profile (getProfile not honoured)")
                    return self._answer(500, {"title": "Cannot deliver", "status": 500})
                msg_id = uuid.uuid4().hex[:26].upper()
                fake.messages.append({"id": msg_id, **body})
                self.send_response(201)
                data = json.dumps({"id": msg_id}).encode()
                self.send_header("content-type", "application/json")
                self.send_header("Location", f"/api/v1/messages/{body['fiscal_code']}/{msg_id}")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeIO:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
