"""One door per change, proven: every route of the app that changes something (every POST/PUT/PATCH/DELETE of the
API, every POST of the console), read from the app's router, is performed once as a role it admits; the request must
leave exactly the audit lines and live events of its command (one of each per change; an audited read leaves a line
and no event). A new route without a scenario fails ``test_every_route_that_changes_something_is_checked``; a route
whose handler changes things without a command leaves no audit line or no event and fails its own case.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

import tests.parity.bookings  # noqa: F401 - each module registers its domain's scenarios
import tests.parity.contacts  # noqa: F401
import tests.parity.conversations  # noqa: F401
import tests.parity.instances  # noqa: F401
import tests.parity.kb  # noqa: F401
import tests.parity.replies  # noqa: F401
import tests.parity.sportello  # noqa: F401
import tests.parity.staff  # noqa: F401
import tests.parity.tickets  # noqa: F401
from tests.conftest import Server, make_ente, start_server
from tests.parity.harness import SCENARIOS, EventStream, Harness, Route, app_routes, covered

# Routes that change no record of the ente, or change them only through the message pipeline, with why.
EXEMPT = {
    "POST /api/v1/auth/login": "signs in: issues a token, changes no record (failures are counted for the lockout)",
    "POST /api/v1/auth/logout": "signs out: ends the caller's server-side session",
    "POST /console/login": "signs in: sets the session cookie",
    "POST /console/logout": "signs out: clears the session cookie",
    "POST /sportello/esci": "a citizen signs out: ends the sportello session",
    "POST /channels/telegram/webhook": "citizens' messages, recorded by the hub (each one emits its own live "
    "event); its contact changes go through crm.contacts.commands",
    "POST /channels/twilio/sms": "citizens' messages, as the Telegram webhook",
    "POST /channels/web/upload": "a citizen's file on the web chat, stored with its message by the hub, as the "
    "socket's messages",
    "POST /channels/twilio/status": "the provider's delivery receipts, recorded by the hub",
    "POST /sportello/prenota": "the sportello's booking in progress (service and reason, kept for this browser two "
    "hours): no record of the ente until it is confirmed (POST /sportello/prenota/conferma)",
    "POST /sportello/prenota/dati": "Back from the booking's summary: renders the contact form again, changes nothing",
    "POST /sportello/prenota/riepilogo": "the booking's summary: checks the contact data and renders, changes nothing",
    "POST /sportello/valutazione": "an anonymous rating of a page (stars, reasons, a short comment): no person's "
    "record, counted on the console's dashboard",
}

# The sportello serves the installation's default ente: this module's server names the harness's ente so.
PARITY_ENTE = f"parity-{os.getpid()}-{time.time_ns() % 10**8}"

# Routes not yet on the command layer, with their scenario to come. The list only shrinks.
PENDING: set[str] = set()

CHECKED: dict[str, tuple[set[int], int]] = {}  # route -> (audit line ids it left, how many events expected)


@pytest.fixture(scope="module")
def routes(base_env: dict[str, str]) -> dict[str, Route]:
    return {r.key: r for r in app_routes(base_env)}


def test_every_route_that_changes_something_is_checked(routes: dict[str, Route]) -> None:
    unchecked = sorted(set(routes) - covered() - EXEMPT.keys() - PENDING)
    assert not unchecked, (
        "routes that change something with no parity scenario: give each a command (audit line "
        f"+ live event) and a scenario in tests/parity/: {unchecked}"
    )
    gone = sorted((covered() | EXEMPT.keys() | PENDING) - set(routes))
    assert not gone, f"scenarios or exemptions for routes the app no longer has: {gone}"
    assert not covered() & PENDING, "a route with a scenario is no longer pending"
    for sc in SCENARIOS.values():
        admitted = routes[sc.key].roles
        assert admitted != ("public",), f"{sc.key} is public: it cannot be a change a user makes"
        assert sc.role in admitted or admitted == ("*",), f"{sc.name}: {sc.role} is not among the roles {admitted}"


@pytest.fixture(scope="module")
def server(base_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(
        {**base_env, "URP_DEFAULT_ENTE": PARITY_ENTE, "URP_SCHEDULER_ENTES": PARITY_ENTE},
        tmp_path_factory.mktemp("parity") / "server.log",
    )
    yield srv
    srv.proc.terminate()
    try:
        srv.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        srv.proc.kill()


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def harness(server, client: httpx.Client, db) -> Harness:  # type: ignore[no-untyped-def]
    h = Harness(server_url=server.url, client=client, ente=make_ente(db, slug=PARITY_ENTE), db=db)
    yield h
    for c in h.consoles.values():
        c.close()
    for d in h.desks.values():
        d.client.close()


@pytest.fixture(scope="module")
def stream(server, harness: Harness) -> EventStream:  # type: ignore[no-untyped-def]
    s = EventStream(server.url, harness.ente.headers("admin"))
    yield s
    s.close()


@pytest.mark.parametrize("key", sorted(SCENARIOS))
def test_one_audit_line_and_one_event_per_change(key: str, harness: Harness, stream: EventStream) -> None:
    """``key``: the scenario's name (the route, and the variant when a route takes several changes)."""
    sc = SCENARIOS[key]
    perform = sc.prepare(harness)
    mark = harness.audit_mark()
    r = perform()
    assert r.status_code in (200, 201, 303), (key, r.status_code, r.text[:800])
    if r.status_code == 303:
        assert "errore=" not in r.headers["location"], (key, r.headers["location"])
    lines = harness.audit_since(mark)
    assert len(lines) == sc.expect.audit, (key, [(x.action, x.entity, x.entity_id) for x in lines])
    ids = {x.id for x in lines}
    CHECKED[key] = (ids, sc.expect.events)
    if sc.expect.events:
        deadline = time.monotonic() + 15
        while len({e["audit_id"] for e in stream.of(ids)}) < sc.expect.events and time.monotonic() < deadline:
            time.sleep(0.02)
    events = stream.of(ids)
    assert len(events) == sc.expect.events, (key, events, [(x.action, x.entity) for x in lines])
    assert len({e["audit_id"] for e in events}) == len(events), (key, "two events for one change", events)
    for e in events:
        line = next(x for x in lines if x.id == e["audit_id"])
        assert (e["type"], e["id"]) == (line.entity, line.entity_id) or e["type"] != line.entity, (key, e)


def test_no_event_arrives_late_or_twice(stream: EventStream) -> None:
    """After every case: no change announced twice, no audited read announced at all."""
    assert CHECKED, "no scenario ran"
    time.sleep(1)
    for key, (ids, expected) in CHECKED.items():
        assert len(stream.of(ids)) == expected, (key, stream.of(ids))
