"""Sessions and sign-ins: logout and password/role changes take tokens and cookies back at once; failed sign-ins are
throttled per address, per account and address, and per account from unknown devices, so a stranger cannot keep an
operator out of the device they use; unknown and throttled accounts get the same answers as existing ones.

Requests come "from" different addresses through X-Forwarded-For (the test servers trust one proxy)."""

from __future__ import annotations

import itertools
import re
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import PASSWORD, Server, start_server

_addr = itertools.count(1)


def addr() -> dict[str, str]:
    """A fresh source address."""
    n = next(_addr)
    return {"X-Forwarded-For": f"198.51.{n // 250}.{n % 250 + 1}"}


def api_login(c: httpx.Client, username: str, password: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return c.post("/api/v1/auth/login", json={"username": username, "password": password}, headers=headers or {})


def me(c: httpx.Client, token: str) -> int:
    return c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code


def console_login(url: str, username: str, password: str) -> tuple[httpx.Client, httpx.Response]:
    c = httpx.Client(base_url=url, timeout=30, follow_redirects=False)
    token = re.search(r'name="prelogin" value="([^"]+)"', c.get("/console/login").text).group(1)  # type: ignore[union-attr]
    return c, c.post("/console/login", data={"prelogin": token, "username": username, "password": password})


def test_api_logout_revokes_the_token(server: Server, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=server.url) as c:
        user = ente_ctx.usernames["operator"]
        one = api_login(c, user, PASSWORD).json()["access_token"]
        two = api_login(c, user, PASSWORD).json()["access_token"]
        assert me(c, one) == 200 and me(c, two) == 200
        out = c.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {one}"})
        assert out.status_code == 204
        assert me(c, one) == 401 and me(c, two) == 200  # only that session ended
        assert c.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {one}"}).status_code == 401
        # service tokens have no session to end
        assert c.post("/api/v1/auth/logout", headers=ente_ctx.headers("service")).status_code == 403


def test_console_logout_revokes_the_cookie_and_its_token(server: Server, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    c, r = console_login(server.url, ente_ctx.usernames["operator"], PASSWORD)
    assert r.status_code == 303
    cookie = c.cookies["urp_session"]
    page = c.get("/console/inbox")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert me(c, cookie) == 200  # the cookie is a bearer token too
    assert c.post("/console/logout", data={"csrf": csrf}).status_code == 303
    assert me(c, cookie) == 401
    # a copy of the cookie kept by someone else is worthless now
    with httpx.Client(base_url=server.url, cookies={"urp_session": cookie}, follow_redirects=False) as thief:
        assert thief.get("/console/inbox").headers["location"] == "/console/login"


def test_password_and_role_changes_end_every_session(server: Server, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    admin = ente_ctx.headers("admin")
    with httpx.Client(base_url=server.url) as c:
        user, oid = ente_ctx.usernames["operator2"], ente_ctx.operator_ids["operator2"]
        tokens = [api_login(c, user, PASSWORD).json()["access_token"] for _ in range(2)]
        console, _ = console_login(server.url, user, PASSWORD)
        assert console.get("/console/inbox").status_code == 200
        r = c.patch(f"/api/v1/operators/{oid}", json={"password": "un-altra-password-1"}, headers=admin)
        assert r.status_code == 200
        assert [me(c, t) for t in tokens] == [401, 401]
        assert console.get("/console/inbox").headers["location"] == "/console/login"
        # a role change, likewise
        token = api_login(c, user, "un-altra-password-1").json()["access_token"]
        assert me(c, token) == 200
        assert c.patch(f"/api/v1/operators/{oid}", json={"role": "backoffice"}, headers=admin).status_code == 200
        assert me(c, token) == 401
        # a change of topics or name is not a reason to sign out
        token = api_login(c, user, "un-altra-password-1").json()["access_token"]
        assert (
            c.patch(
                f"/api/v1/operators/{oid}", json={"full_name": "Nome Nuovo", "topics": ["urp"]}, headers=admin
            ).status_code
            == 200
        )
        assert me(c, token) == 200
        # changing one's own password keeps the session doing it and ends the others
        admin_user, admin_id = ente_ctx.usernames["admin"], ente_ctx.operator_ids["admin"]
        mine, other = (api_login(c, admin_user, PASSWORD).json()["access_token"] for _ in range(2))
        r = c.patch(
            f"/api/v1/operators/{admin_id}",
            json={"password": "la-mia-nuova-password"},
            headers={"Authorization": f"Bearer {mine}"},
        )
        assert r.status_code == 200 and me(c, mine) == 200 and me(c, other) == 401


def test_tokens_without_a_session_are_refused(server: Server, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    import jwt

    from tests.conftest import SECRET

    claims = {
        "sub": str(ente_ctx.operator_ids["admin"]),
        "ente": ente_ctx.ente_id,
        "role": "admin",
        "usr": "x",
        "exp": 4102444800,
        "typ": "access",
    }
    with httpx.Client(base_url=server.url) as c:
        assert me(c, jwt.encode(claims, SECRET, algorithm="HS256")) == 401  # signed by us, but no session
        assert me(c, jwt.encode({**claims, "sid": "made-up"}, SECRET, algorithm="HS256")) == 401


def test_unknown_and_throttled_accounts_answer_alike(server: Server, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    real, ghost = ente_ctx.usernames["phone_operator"], f"nessuno-{ente_ctx.slug}"
    with httpx.Client(base_url=server.url) as c:
        where = addr()
        first = [api_login(c, u, "password-sbagliata", where) for u in (real, ghost)]
        assert [r.status_code for r in first] == [401, 401] and first[0].json() == first[1].json()
        for _ in range(4):
            for u in (real, ghost):
                api_login(c, u, "password-sbagliata", where)
        after = [api_login(c, u, "password-sbagliata", where) for u in (real, ghost)]
        assert [r.status_code for r in after] == [429, 429] and after[0].json() == after[1].json()
        # the waits differ only by the seconds between the two series of attempts
        assert abs(int(after[0].headers["Retry-After"]) - int(after[1].headers["Retry-After"])) <= 5
        # throttled means throttled: the right password from that address waits too (nothing is verified)
        assert api_login(c, real, PASSWORD, where).status_code == 429
        # the console says the same for both
        for u in (real, ghost):
            cc = httpx.Client(base_url=server.url, follow_redirects=False, headers=where)
            token = re.search(r'name="prelogin" value="([^"]+)"', cc.get("/console/login").text).group(1)  # type: ignore[union-attr]
            r = cc.post("/console/login", data={"prelogin": token, "username": u, "password": "x"})
            assert r.status_code == 429 and "Troppi tentativi" in r.text


def test_a_stranger_cannot_lock_an_operator_out(server: Server, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    user = ente_ctx.usernames["backoffice"]
    # the operator's own browser signed in before: it holds a device cookie
    own = httpx.Client(base_url=server.url, headers=addr())
    assert api_login(own, user, PASSWORD).status_code == 200 and "urp_device" in own.cookies
    # a stranger tries 30 passwords from 10 addresses
    with httpx.Client(base_url=server.url) as stranger:
        codes = [
            api_login(stranger, user, f"tentativo-{i}", addr() if i % 3 == 0 else None).status_code for i in range(30)
        ]
    assert 429 in codes
    # the account now waits for unknown devices, from any address...
    with httpx.Client(base_url=server.url) as newcomer:
        assert api_login(newcomer, user, PASSWORD, addr()).status_code == 429
    # ...but the operator signs in from their own browser as usual, and after a few typos too
    for _ in range(3):
        assert api_login(own, user, "refuso").status_code == 401
    assert api_login(own, user, PASSWORD).status_code == 200
    # a device cookie issued to another account, or forged, counts for nothing
    forged = httpx.Client(base_url=server.url, cookies={"urp_device": own.cookies["urp_device"][:-2] + "00"})
    assert api_login(forged, user, PASSWORD, addr()).status_code == 429
    # an administrator who sets a new password lifts the account-wide wait (and ends the sessions)
    oid = ente_ctx.operator_ids["backoffice"]
    with httpx.Client(base_url=server.url) as c:
        assert (
            c.patch(
                f"/api/v1/operators/{oid}", json={"password": "password-rimessa-1"}, headers=ente_ctx.headers("admin")
            ).status_code
            == 200
        )
        assert api_login(c, user, "password-rimessa-1", addr()).status_code == 200
    own.close()
    forged.close()


@pytest.fixture(scope="module")
def strict_server(base_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with the production defaults of the per-address throttle (the shared one relaxes it)."""
    env = {**base_env, "URP_LOGIN_MAX_FAILURES_ADDRESS": "20"}
    srv = start_server(env, tmp_path_factory.mktemp("strict") / "server.log")
    yield srv
    srv.proc.terminate()
    try:
        srv.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        srv.proc.kill()


def test_a_password_spray_from_one_address_is_stopped(strict_server: Server, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    where = addr()
    with httpx.Client(base_url=strict_server.url) as c:
        codes = [api_login(c, f"utente-{i}-{ente_ctx.slug}", "Password2026!", where).status_code for i in range(40)]
        assert codes[:20] == [401] * 20 and codes[20:] == [429] * 20
        # other addresses are not affected
        assert api_login(c, ente_ctx.usernames["operator"], PASSWORD, addr()).status_code == 200
