"""A fake App IO server on 127.0.0.1 that holds requests to the public contract of ``pagopa/io-functions-services``
(``openapi/index.yaml``, Swagger 2.0): ``getProfile`` and ``submitMessageforUserWithFiscalCodeInBody`` with the
``Ocp-Apim-Subscription-Key`` header. Every body, sent or answered, is validated against the real schemas that
document points to, vendored unchanged in ``contract/definitions.yaml`` (from ``@pagopa/io-functions-commons``, MIT:
see ``contract/README.md``). Anything that does not validate answers 400 with a ProblemJson, as IO does."""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import datetime
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CONTRACT = Path(__file__).parent / "contract" / "definitions.yaml"
# the FiscalCode path parameter of index.yaml, and the check behind the definitions' own `format: FiscalCode`
FISCAL_CODE = r"^[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]$"
FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("FiscalCode")
def _fiscal_code(value: object) -> bool:
    return not isinstance(value, str) or re.match(FISCAL_CODE, value) is not None


@FORMATS.checks("UTCISODateFromString")
def _utc_iso_date(value: object) -> bool:
    """``Timestamp``: ISO-8601 in UTC, as the contract's example "2018-10-13T00:00:00.000Z"."""
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@lru_cache
def definitions() -> dict[str, Any]:
    """The contract's definitions: one YAML mapping whose references are ``#/<Name>``."""
    return dict(yaml.safe_load(CONTRACT.read_text()))


def validator(name: str) -> jsonschema.Draft4Validator:
    """A validator of one definition; the document itself is the root, so its ``#/...`` references resolve."""
    doc = definitions()
    if name not in doc:
        raise KeyError(f"{name} is not defined in {CONTRACT.name}")
    return jsonschema.Draft4Validator({**doc, "$ref": f"#/{name}"}, format_checker=FORMATS)


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
                if status >= 400:
                    validator("ProblemJson").validate(body or {})  # our own answers hold to the contract too
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
