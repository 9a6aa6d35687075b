"""Operator console: session login with CSRF, inbox, take and reply, contact 360, isolation."""

from __future__ import annotations

import re

import httpx

from tests.conftest import PASSWORD

# each role lands on its own work (crm.console.kit.LANDING)
LANDS = {
    "admin": "/console/dashboard",
    "operator": "/console/inbox",
    "operator2": "/console/inbox",
    "phone_operator": "/console/intake",
    "backoffice": "/console/instances",
}


def login(server, ente_ctx, who: str = "operator") -> httpx.Client:  # type: ignore[no-untyped-def]
    c = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)
    page = c.get("/console/login")
    assert page.status_code == 200 and 'lang="it"' in page.text
    token = re.search(r'name="prelogin" value="([^"]+)"', page.text).group(1)
    r = c.post("/console/login", data={"prelogin": token, "username": ente_ctx.usernames[who], "password": PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == LANDS[who]
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return c


def csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def _waiting_conversation(client: httpx.Client, ente_ctx, db) -> int:  # type: ignore[no-untyped-def]
    from crm.conversations import service

    cid = client.post(
        "/api/v1/contacts", json={"first_name": "Irene", "last_name": "Console"}, headers=ente_ctx.headers("operator")
    ).json()["id"]

    async def work(s):  # type: ignore[no-untyped-def]
        conv, _, _ = await service.record_inbound(
            s,
            ente_id=ente_ctx.ente_id,
            contact_id=cid,
            channel="web",
            text="vorrei parlare con qualcuno <b>subito</b>",
            channel_message_id=None,
        )
        return conv.id

    conv_id = db.run(work)
    client.post(
        f"/api/v1/conversations/{conv_id}/handoff",
        headers=ente_ctx.headers("service"),
        json={"topic": "urp", "summary": "Chiede un operatore"},
    )
    return conv_id


def test_login_required_and_bad_credentials(server) -> None:  # type: ignore[no-untyped-def]
    c = httpx.Client(base_url=server.url, follow_redirects=False)
    assert c.get("/console/").headers["location"] == "/console/login"
    assert c.get("/console/inbox").headers["location"] == "/console/login"
    page = c.get("/console/login")
    token = re.search(r'name="prelogin" value="([^"]+)"', page.text).group(1)
    assert c.post("/console/login", data={"prelogin": "forged", "username": "x", "password": "y"}).status_code == 403
    bad = c.post("/console/login", data={"prelogin": token, "username": "nessuno", "password": "sbagliata"})
    assert bad.status_code == 401 and "non corretti" in bad.text


def test_inbox_take_reply_with_csrf(server, client: httpx.Client, ente_ctx, db) -> None:  # type: ignore[no-untyped-def]
    conv_id = _waiting_conversation(client, ente_ctx, db)
    c = login(server, ente_ctx)
    inbox = c.get("/console/inbox?view=waiting")
    assert inbox.status_code == 200 and "Irene Console" in inbox.text and "Chiede un operatore" in inbox.text
    page = c.get(f"/console/conversations/{conv_id}")
    assert "&lt;b&gt;subito&lt;/b&gt;" in page.text and "<b>subito</b>" not in page.text  # escaped output
    token = csrf(page.text)
    assert c.post(f"/console/conversations/{conv_id}/take", data={}).status_code == 403  # no CSRF token
    assert c.post(f"/console/conversations/{conv_id}/take", data={"csrf": "x" * 40}).status_code == 403
    assert c.post(f"/console/conversations/{conv_id}/take", data={"csrf": token}).status_code == 303
    assert (
        c.post(
            f"/console/conversations/{conv_id}/reply", data={"csrf": token, "text": "Buongiorno, sono Giulia."}
        ).status_code
        == 303
    )
    assert (
        c.post(f"/console/conversations/{conv_id}/note", data={"csrf": token, "text": "richiamare"}).status_code == 303
    )
    full = client.get(f"/api/v1/conversations/{conv_id}", headers=ente_ctx.headers("operator")).json()
    assert full["mode"] == "assigned" and full["assignee_id"] == ente_ctx.operator_ids["operator"]
    assert [(m["author_kind"], m["private"]) for m in full["messages"][-2:]] == [
        ("operator", False),
        ("operator", True),
    ]
    # the session cookie also opens the API for the page's scripts, but unsafe calls need the CSRF header
    assert c.get("/api/v1/auth/me").json()["role"] == "operator"
    assert c.post(f"/api/v1/conversations/{conv_id}/close").status_code == 403
    assert c.post(f"/api/v1/conversations/{conv_id}/close", headers={"X-CSRF-Token": token}).status_code == 200


def test_contact_360_and_isolation(server, client: httpx.Client, ente_ctx, other_ente, db) -> None:  # type: ignore[no-untyped-def]
    conv_id = _waiting_conversation(client, ente_ctx, db)
    contact_id = client.get(f"/api/v1/conversations/{conv_id}", headers=ente_ctx.headers("operator")).json()[
        "contact_id"
    ]
    client.post(
        "/api/v1/requests",
        json={"contact_id": contact_id, "kind": "information", "subject": "Orari TARI"},
        headers=ente_ctx.headers("operator"),
    )
    c = login(server, ente_ctx)
    page = c.get(f"/console/contacts/{contact_id}")
    assert page.status_code == 200 and "Orari TARI" in page.text and "Conversazione" in page.text
    assert "Irene" in c.get("/console/contacts", params={"q": "console"}).text
    assert "Orari TARI" in c.get("/console/requests").text
    other = login(server, other_ente)
    assert other.get(f"/console/contacts/{contact_id}").status_code == 404
    assert other.get(f"/console/conversations/{conv_id}").status_code == 404
    assert "Irene" not in other.get("/console/inbox?view=open").text


def test_each_role_lands_on_its_work(server, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    """Operators on the conversations, phone operators on "Chiamata in arrivo", back office on the istanze queue,
    admins on the dashboard: after signing in (``login`` checks the redirect) and from /console/ later on."""
    heading = {
        "admin": "Cruscotto",
        "operator": "Conversazioni",
        "phone_operator": "Chiamata in arrivo",
        "backoffice": "Istanze",
    }
    for who, h1 in heading.items():
        c = login(server, ente_ctx, who)
        again = c.get("/console/")
        assert again.status_code == 302 and again.headers["location"] == LANDS[who], (who, again.headers)
        page = c.get(LANDS[who])
        assert page.status_code == 200, (who, page.status_code)
        assert re.search(r"<h1[^>]*>\s*" + re.escape(h1), page.text), (who, re.findall(r"<h1[^>]*>[^<]*", page.text))
