"""What the parity test needs: the app's mutating routes read from its router, the scenario of each (set up through
the services, then one request as an allowed role), the live events of the ente read from the real SSE stream, and
the audit lines read from the database.

A scenario sets up what its route needs directly through the domain services (no audit line, no event), then
returns the one request to perform. The test counts the audit lines and events that request alone produced.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import DB, ROOT, SECRET, EnteCtx

MUTATING = ("POST", "PUT", "PATCH", "DELETE")
Perform = Callable[[], httpx.Response]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as the router has it: /api/v1/bookings/<booking_id:int>/cancel
    roles: tuple[str, ...]  # who the route admits ("*": any signed-in staff member; "public": anyone)
    console: bool

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


def app_routes(env: dict[str, str]) -> list[Route]:
    """Every mutating route of the app, from its router (built in a separate process, as `urp serve` builds it)."""
    code = (
        "import json\n"
        "from crm.app import create_app\n"
        "app = create_app(name='parity_routes')\n"
        "out = []\n"
        "for r in app.router.routes:\n"
        "    h = r.handler\n"
        "    roles = getattr(h, '__console_roles__', None) or getattr(h, '__authorized__', ())\n"
        "    for m in sorted(r.methods):\n"
        "        out.append([m, '/' + r.path, list(roles), hasattr(h, '__console_roles__')])\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    return sorted({Route(m, p, tuple(r), c) for m, p, r, c in rows if m in MUTATING}, key=lambda x: x.key)


@dataclass
class Expect:
    """What one request must leave: ``audit`` lines, and one live event for each of the first ``events`` of them
    (an audited read has lines and no event)."""

    audit: int = 1
    events: int = 1


@dataclass
class Scenario:
    key: str  # the route: "POST /console/requests/<ticket_id:int>/<action:str>"
    variant: str  # one route may take several changes (the console's action routes): one scenario each
    role: str
    prepare: Callable[[Harness], Perform]
    expect: Expect

    @property
    def name(self) -> str:
        return self.key + (f" [{self.variant}]" if self.variant else "")


SCENARIOS: dict[str, Scenario] = {}  # by name


def scenario(
    method: str, path: str, role: str, *, variant: str = "", audit: int = 1, events: int | None = None
) -> Callable[[Callable[[Harness], Perform]], Callable[[Harness], Perform]]:
    """Register the scenario of one route (one variant of it): ``role`` performs it; by default it must leave one
    audit line and one event."""

    def register(fn: Callable[[Harness], Perform]) -> Callable[[Harness], Perform]:
        sc = Scenario(f"{method} {path}", variant, role, fn, Expect(audit, audit if events is None else events))
        assert sc.name not in SCENARIOS, f"two scenarios for {sc.name}"
        SCENARIOS[sc.name] = sc
        return fn

    return register


def covered() -> set[str]:
    """The routes that have at least one scenario."""
    return {sc.key for sc in SCENARIOS.values()}


class EventStream:
    """The ente's live events, as the console receives them (GET /api/v1/events, server-sent events)."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(5, read=None))
        self._thread = threading.Thread(target=self._read, args=(headers,), daemon=True)
        self._thread.start()
        assert self._ready.wait(30), "the event stream did not open"

    def _read(self, headers: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", "/api/v1/events", headers=headers) as resp:
                for line in resp.iter_lines():
                    if line.startswith(": connected"):
                        self._ready.set()
                    elif line.startswith("data: "):
                        with self._lock:
                            self.events.append(json.loads(line[6:]))
        except Exception:  # noqa: BLE001 - closed at the end of the test
            pass

    def of(self, audit_ids: set[int]) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e.get("audit_id") in audit_ids]

    def wait_for(self, audit_ids: set[int], timeout: float = 15) -> list[dict[str, Any]]:
        """The events announcing these audit lines, once one has arrived for each (or the timeout has passed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.of(audit_ids)
            if {e["audit_id"] for e in got} >= audit_ids:
                return got
            time.sleep(0.02)
        return self.of(audit_ids)

    def close(self) -> None:
        self._client.close()


@dataclass
class Harness:
    server_url: str
    client: httpx.Client
    ente: EnteCtx
    db: DB
    consoles: dict[str, httpx.Client] = field(default_factory=dict)
    desks: dict[str, Desk] = field(default_factory=dict)
    n: int = 0

    def unique(self, prefix: str = "x") -> str:
        self.n += 1
        return f"{prefix}-{self.n}-{time.time_ns() % 10**6}"

    def setup(self, work: Callable[[Any], Any]) -> Any:
        """Run ``work(session)`` through the services in one transaction: no audit line, no event."""
        return self.db.run(work)

    def api(self, method: str, path: str, role: str, **kw: Any) -> Perform:
        return lambda: self.client.request(method, path, headers=self.ente.headers(role), **kw)

    def console(
        self,
        path: str,
        role: str,
        data: dict[str, Any] | list[tuple[str, str]] | None = None,
        files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
    ) -> Perform:
        c = self._console(role)
        token = c.cookies.get("urp_session") or ""
        from crm.core.cookies import csrf_for

        csrf = csrf_for(SECRET, token)
        form: dict[str, list[str]] = {"csrf": [csrf]}
        for k, v in data.items() if isinstance(data, dict) else data or []:
            form.setdefault(k, []).append(str(v))
        return lambda: c.post(path, data=form, files=files)

    def desk(self, role: str = "citizen") -> Desk:
        """The sportello digitale's browser of a signed-in ``citizen`` (a session as the SPID/CIE sign-in makes
        it, through the services: the provider's part is tested in tests/sportello) or of a ``visitor``."""
        if role not in self.desks:
            self.desks[role] = Desk.open(self, signed_in=role == "citizen")
        return self.desks[role]

    def sportello(
        self, path: str, role: str = "citizen", data: dict[str, Any] | None = None, files: dict[str, Any] | None = None
    ) -> Perform:
        """A sportello form, posted by the citizen's (or the visitor's) browser with its CSRF token."""
        d = self.desk(role)
        form = {"csrf": d.csrf, **(data or {})}
        return lambda: d.client.post(path, data=form, files=files)

    def _console(self, role: str) -> httpx.Client:
        if role not in self.consoles:
            from tests.console.test_console import login

            self.consoles[role] = login(_Server(self.server_url), self.ente, role)
        return self.consoles[role]

    def audit_mark(self) -> int:
        from sqlalchemy import func, select

        from crm.core.audit import AuditEntry

        async def work(s: Any) -> int:
            return await s.scalar(select(func.max(AuditEntry.id))) or 0

        return int(self.db.run(work))

    def audit_since(self, mark: int) -> list[Any]:
        from sqlalchemy import select

        from crm.core.audit import AuditEntry

        async def work(s: Any) -> list[Any]:
            return list(
                (
                    await s.scalars(
                        select(AuditEntry)
                        .where(AuditEntry.id > mark, AuditEntry.ente_id == self.ente.ente_id)
                        .order_by(AuditEntry.id)
                    )
                ).all()
            )

        return self.db.run(work)

    def principal(self, role: str = "admin") -> Any:
        from crm.core.auth import Principal

        return Principal(
            ente_id=self.ente.ente_id,
            role=role,
            operator_id=self.ente.operator_ids.get(role),
            username=self.ente.usernames.get(role, role),
        )


@dataclass
class Desk:
    client: httpx.Client
    browser: str  # the urp_sp cookie: booking drafts belong to it, the CSRF token is signed over it
    csrf: str
    contact_id: int | None  # the signed-in citizen's contact

    @classmethod
    def open(cls, h: Harness, *, signed_in: bool) -> Desk:
        import hashlib
        import hmac
        import secrets

        browser = secrets.token_urlsafe(24)
        c = httpx.Client(base_url=h.server_url, timeout=30, follow_redirects=False)
        c.cookies.set("urp_sp", browser)
        csrf = hmac.new(SECRET.encode(), b"sportello-csrf:" + browser.encode(), hashlib.sha256).hexdigest()[:40]
        contact_id = None
        if signed_in:
            cookie, contact_id = h.setup(lambda s: _sign_in(s, h))
            c.cookies.set("urp_citizen", cookie)
        return cls(client=c, browser=browser, csrf=csrf, contact_id=contact_id)


async def _sign_in(s: Any, h: Harness) -> tuple[str, int]:
    from crm.citizens import service as citizens
    from crm.citizens.oidc import VerifiedIdentity

    fiscal_code = "RSSMRA80A01H501U"
    ident = VerifiedIdentity(
        subject=fiscal_code,
        fiscal_code=fiscal_code,
        given_name="Mario",
        family_name="Rossi",
        email="mario.rossi@example.it",
        phone="+393471234567",
        acr="https://www.spid.gov.it/SpidL2",
        level=2,
        provider="spid",
    )
    signed = await citizens.sign_in(s, ente_id=h.ente.ente_id, ident=ident, minutes=120)
    return citizens.cookie_value(SECRET, signed.sid), signed.contact.id


@dataclass
class _Server:
    url: str
