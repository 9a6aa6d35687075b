"""A server in production mode (https public URL, real secrets): the console's session cookie, its pre-login cookie
and the device cookie are HttpOnly, Secure and SameSite=Strict; the session cookie stops working at logout."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD, Server, start_server


@pytest.fixture(scope="module")
def production(base_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        **base_env,
        "URP_ENV": "production",
        "URP_PUBLIC_URL": "https://urp.comune.example.it",
        "URP_SERVICE_TOKEN": "s" * 40,
        "URP_RASA_TOKEN": "r" * 40,
        "URP_ACTIONS_SECRET": "a" * 40,
    }
    srv = start_server(env, Path(tmp_path_factory.mktemp("production")) / "server.log")
    yield srv
    srv.proc.terminate()
    try:
        srv.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        srv.proc.kill()


def _flags(header: str) -> set[str]:
    return {part.strip().lower() for part in header.split(";")[1:]}


def test_production_cookies_are_httponly_secure_strict(production: Server, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=production.url, follow_redirects=False, timeout=30) as c:
        page = c.get("/console/login")
        prelogin = page.headers["set-cookie"]
        token = re.search(r'name="prelogin" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        c.cookies.set("urp_prelogin", token)  # a Secure cookie: httpx would not send it back over plain http
        r = c.post(
            "/console/login", data={"prelogin": token, "username": ente_ctx.usernames["operator"], "password": PASSWORD}
        )
        assert r.status_code == 303, r.text
        cookies = {h.split("=", 1)[0]: h for h in r.headers.get_list("set-cookie")}
        for header in (prelogin, cookies["urp_session"], cookies["urp_device"]):
            assert {"httponly", "secure", "samesite=strict"} <= _flags(header), header
        session = re.match(r"urp_session=([^;]+)", cookies["urp_session"]).group(1)  # type: ignore[union-attr]
        h = {"Authorization": f"Bearer {session}"}
        assert c.get("/api/v1/auth/me", headers=h).status_code == 200
        assert c.post("/api/v1/auth/logout", headers=h).status_code == 204
        assert c.get("/api/v1/auth/me", headers=h).status_code == 401
