"""The authorization matrix, enumerated from the application's router (not a hand list): every /api/v1 operation as
every principal (five roles and nobody) answers 401 without credentials, 403 for a role its ``@authorized`` does not
name, and neither for a role it names; and every operation that takes an id in its path, called by every allowed
principal of a *second* ente with the first ente's real ids, finds nothing (404 on reads, never a 2xx).

Console POSTs are covered too: each one without the session's CSRF token is a 403. Counts are printed (``-s``)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from tests.conftest import Server
from tests.security.scan import report
from tests.security.test_fuzz import _seed

ROLES = ("admin", "operator", "phone_operator", "backoffice", "service")
METHOD_ORDER = {"GET": 0, "POST": 1, "PUT": 1, "PATCH": 1, "DELETE": 2}
QUERY = {"/api/v1/services/{service_id}/availability": {"from": "2030-01-07", "to": "2030-01-08"}}


def _routes() -> list[tuple[str, str, tuple[str, ...]]]:
    """(method, path template, allowed roles) of every /api/v1 route, from the app's router."""
    from crm.app import create_app
    from crm.config import Settings

    app = create_app(Settings(), name=f"authz_matrix_{uuid.uuid4().hex}")
    out = []
    for route in app.router.routes:
        uri = "/" + route.path.lstrip("/")
        if not uri.startswith("/api/v1"):
            continue
        roles = getattr(route.handler, "__authorized__", None)
        assert roles is not None, f"{uri} has neither @authorized nor @public"
        for method in route.methods:
            if method in ("HEAD", "OPTIONS"):
                continue
            out.append((method, re.sub(r"<(\w+)(?::[^>]*)?>", r"{\1}", uri), tuple(roles)))
    return sorted(set(out), key=lambda r: (METHOD_ORDER.get(r[0], 3), r[1]))


def _fill(path: str, ids: dict[str, Any]) -> str:
    return re.sub(r"{(\w+)}", lambda m: str(ids[m.group(1)]), path)


def _request(c: httpx.Client, method: str, url: str, **kw: Any) -> tuple[int, Any]:
    """(status, JSON body or None). A text/event-stream answer (/api/v1/events) never ends, and its keep-alives
    reset the read timeout, so only its status is read: reading its body hung the whole suite (CI timeout)."""
    body = None if method in ("GET", "DELETE") else {}
    with c.stream(method, url, json=body, **kw) as r:
        if not r.headers.get("content-type", "").startswith("application/json"):
            return r.status_code, None
        r.read()
        return r.status_code, r.json()


def _call(c: httpx.Client, method: str, url: str, headers: dict[str, str]) -> int:
    return _request(c, method, url, headers=headers)[0]


def test_every_operation_as_every_principal(server: Server, client: httpx.Client, ente_ctx, other_ente, db) -> None:  # type: ignore[no-untyped-def]
    ids = _seed(client, ente_ctx, db)
    routes = [r for r in _routes() if r[1] != "/api/v1/auth/logout"]  # signs the caller out: tested on its own
    checked, mismatches = 0, []
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for method, path, roles in routes:
            url = _fill(path, ids)
            if "public" in roles:
                continue
            code = _call(c, method, url, {})
            checked += 1
            if code != 401:
                mismatches.append(f"{method} {path} anonymous: {code}")
            for who in ROLES:
                code = _call(c, method, url, ente_ctx.headers(who))
                checked += 1
                allowed = "*" in roles or who in roles
                if allowed and code in (401, 403) or not allowed and code != 403:
                    mismatches.append(f"{method} {path} as {who} (allowed={allowed}): {code}")
    report(
        f"authorization matrix: {checked // 6} operations x 6 principals = {checked} requests, "
        f"{len(mismatches)} mismatches ({len(routes) - checked // 6} public operations skipped)"
    )
    assert not mismatches, "\n".join(mismatches)


def test_by_id_routes_from_a_second_ente_find_nothing(
    server: Server,
    client: httpx.Client,
    ente_ctx,
    other_ente,  # type: ignore[no-untyped-def]
    db,
) -> None:
    ids = _seed(client, ente_ctx, db)
    routes = [r for r in _routes() if "{" in r[1] and "public" not in r[2]]
    checked, leaks = 0, []
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for method, path, roles in routes:
            url = _fill(path, ids)
            for who in ROLES:
                if not ("*" in roles or who in roles):
                    continue
                status, data = _request(c, method, url, params=QUERY.get(path), headers=other_ente.headers(who))
                checked += 1
                empty_list = status == 200 and isinstance(data, dict) and data.get("items") == [] and "_id}" not in path
                if empty_list:  # a list named by a slug (reference-lists/{list_slug}): theirs is empty
                    continue
                if status < 300 or (method == "GET" and status != 404):
                    leaks.append(f"{method} {path} as {who} of another ente: {status} {str(data)[:120]}")
    # the first ente's records are all still there and unchanged by the other ente's attempts
    h = ente_ctx.headers("admin")
    assert client.get(f"/api/v1/contacts/{ids['contact_id']}", headers=h).json()["first_name"] == "Fuzz"
    assert client.get(f"/api/v1/bookings/{ids['booking_id']}", headers=h).json()["status"] == "confirmed"
    assert client.get(f"/api/v1/services/{ids['service_id']}", headers=h).status_code == 200
    report(f"cross-ente by-id: {len(routes)} operations, {checked} requests from a second ente, {len(leaks)} leaks")
    assert not leaks, "\n".join(leaks)


def test_every_console_post_needs_the_csrf_token(server: Server, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    from crm.app import create_app
    from crm.config import Settings
    from tests.conftest import PASSWORD

    app = create_app(Settings(), name=f"csrf_matrix_{uuid.uuid4().hex}")
    posts = sorted(
        {
            "/" + r.path.lstrip("/")
            for r in app.router.routes
            if "POST" in r.methods and r.path.lstrip("/").startswith("console")
        }
    )
    posts = [p for p in posts if p not in ("/console/login",)]  # login has its own pre-login token
    c = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)
    token = re.search(r'name="prelogin" value="([^"]+)"', c.get("/console/login").text).group(1)  # type: ignore[union-attr]
    assert (
        c.post(
            "/console/login", data={"prelogin": token, "username": ente_ctx.usernames["admin"], "password": PASSWORD}
        ).status_code
        == 303
    )
    refused = []
    for p in posts:
        url = re.sub(r"<(\w+)(?::[^>]*)?>", "1", "/" + p.lstrip("/"))
        r = c.post(url, data={"x": "1"})
        if r.status_code != 403:
            refused.append(f"{p}: {r.status_code}")
        r = c.post(url, data={"x": "1", "csrf": "not-the-token"})
        if r.status_code != 403:
            refused.append(f"{p} (wrong token): {r.status_code}")
    # still signed in: the refused POSTs changed nothing, the session works
    assert c.get("/console/inbox").status_code == 200
    c.close()
    report(f"console CSRF: {len(posts)} POST routes, each refused without and with a wrong token")
    assert not refused, refused
