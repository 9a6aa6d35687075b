"""Every action that calls the back office, run by the real action server (rasa-sdk over HTTP, as Rasa calls it)
against a CRM that is down, answers 500, or is too slow: the citizen gets the Italian apology, the action server
answers 200 with no stack trace, and nothing is half-done (no events that would book or cancel)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from channels.turn_token import Turn
from tests.bot.action_server import action_server, call_as, said

APOLOGY = "non riesco a collegarmi ai sistemi del Comune"
TURN = Turn(conversation_id=41, contact_id=17, ente_id=1, channel="telegram")


class _Broken(BaseHTTPRequestHandler):
    """A CRM that answers every request with a 500, or only after ``delay`` seconds."""

    delay = 0.0

    def _answer(self) -> None:
        time.sleep(self.delay)
        body = b'{"error": {"code": "internal", "message": "boom"}}'
        try:
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up first (the slow case)
            pass

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


def _serve(delay: float) -> tuple[ThreadingHTTPServer, str]:
    handler = type("Handler", (_Broken,), {"delay": delay})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


@pytest.fixture(scope="module", params=["down", "error", "slow"])
def actions_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    srv = None
    if request.param == "down":
        crm_url = f"http://127.0.0.1:{_closed_port()}"
    else:
        srv, crm_url = _serve(delay=5.0 if request.param == "slow" else 0.0)
    log = tmp_path_factory.mktemp(f"actions-{request.param}") / "actions.log"
    try:
        with action_server({"URP_CRM_URL": crm_url, "URP_CRM_TIMEOUT": "1"}, log) as url:
            yield url
    finally:
        if srv is not None:
            srv.shutdown()


def _call(
    url: str,
    action: str,
    text: str,
    intent: str,
    slots: dict[str, Any] | None = None,
    active_loop: str | None = None,
    extracted: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``extracted``: slots Rasa filled from this message before calling a form's validation action."""
    return call_as(url, TURN, action, text, intent, slots=slots, active_loop=active_loop, extracted=extracted)


_said = said


BOOKING = {
    "booking_service": "carta-identita",
    "booking_service_id": 1,
    "booking_start": "2026-12-03T09:00:00+01:00",
    "booking_name": "Maria Rossi",
    "booking_confirm": True,
}
CASES = [
    ("action_answer_info", "come rinnovo la carta d'identità?", "ask_info", {}, None),
    ("action_handoff", "voglio parlare con un operatore", "human_handoff", {}, None),
    ("action_submit_report", "via Roma 3", "inform", {"issue_description": "buca", "issue_place": "via Roma 3"}, None),
    ("action_check_status", "RQ-K4M9TX", "check_status", {"request_code": "RQ-K4M9TX"}, None),
    (
        "action_check_status",
        "IS-7K3P9A",
        "check_status",
        {"request_code": "IS-7K3P9A", "status_second_factor": "4567"},
        None,
    ),
    ("action_list_appointments", "che appuntamenti ho?", "list_appointments", {}, None),
    ("action_book", "sì", "affirm", BOOKING, None),
    ("action_submit_instance", "dettagli", "inform", {"instance_subject": "x", "instance_description": "y"}, None),
    (
        "action_cancel_appointment",
        "sì",
        "affirm",
        {"cancel_code": "AN-7K3P9", "cancel_booking_id": 5, "cancel_summary": "AN-7K3P9", "cancel_confirm": True},
        None,
    ),
    ("action_ask_booking_service", "vorrei prenotare", "book_appointment", {}, "booking_form"),
    ("action_ask_booking_start", "domani", "inform", {"booking_service_id": 1}, "booking_form"),
    ("action_ask_cancel_code", "annulla", "cancel_appointment", {}, "cancel_form"),
]


@pytest.mark.parametrize("action,text,intent,slots,loop", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_the_citizen_gets_an_apology(
    actions_url: str, action: str, text: str, intent: str, slots: dict[str, Any], loop: str | None
) -> None:
    body = _call(actions_url, action, text, intent, slots, active_loop=loop)
    assert APOLOGY in _said(body), body


def test_forms_apologise_and_ask_nothing_more(actions_url: str) -> None:
    # a service chosen while the CRM is down: the form stops asking instead of looping on the same question
    body = _call(
        actions_url,
        "validate_booking_form",
        "carta d'identità",
        "inform",
        {"requested_slot": "booking_service"},
        active_loop="booking_form",
        extracted={"booking_service": "carta d'identità"},
    )
    assert APOLOGY in _said(body)
    assert {"event": "slot", "name": "requested_slot", "value": None} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in body["events"]
    ]
    # a second factor given to cancel a booking made elsewhere: the form ends, nothing is cancelled
    body = _call(
        actions_url,
        "validate_cancel_form",
        "4567",
        "inform",
        {"requested_slot": "cancel_second_factor", "cancel_code": "TR-9KQ4M", "cancel_owned": False},
        active_loop="cancel_form",
    )
    assert APOLOGY in _said(body)
    slots = {e["name"]: e["value"] for e in body["events"] if e.get("event") == "slot"}
    assert slots.get("cancel_confirm") is False and slots.get("cancel_booking_id") is None


def test_out_of_scope_needs_no_crm(actions_url: str) -> None:
    # the knowledge base is only asked for a second opinion: without it the citizen still gets the polite decline
    body = _call(actions_url, "action_out_of_scope", "chi ha vinto il campionato?", "out_of_scope")
    assert "su questo non posso aiutarla" in _said(body) and APOLOGY not in _said(body)
