"""Identity captured once (issue 15 item 4): what the citizen gives the assistant fills the contact's empty details
through the contacts commands, a value an operator entered is never overwritten but kept as a conflict to resolve
("usa questo" / "mantieni"), and the contact shows the citizen's name from then on. Anonymous bot-only sessions stay
out of the operators' open conversations."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import EnteCtx
from tests.console.test_console import csrf, login


def _anonymous(db: Any, ente: EnteCtx, channel: str = "telegram", address: str = "tg-4242", first: str = "") -> int:
    """A contact as the hub makes it at a citizen's first message: a channel address, no name."""
    from crm.contacts import service

    async def work(s: Any) -> int:
        c, _ = await service.find_or_create_by_identity(
            s, ente_id=ente.ente_id, channel=channel, external_id=address, first_name=first
        )
        return c.id

    return int(db.run(work))


def _conversation(db: Any, ente: EnteCtx, contact_id: int, text: str = "buongiorno") -> int:
    from crm.conversations import service

    async def work(s: Any) -> int:
        conv, _, _ = await service.record_inbound(
            s, ente_id=ente.ente_id, contact_id=contact_id, channel="telegram", text=text, channel_message_id=None
        )
        return int(conv.id)

    return int(db.run(work))


def _audit(db: Any, ente: EnteCtx, action: str) -> list[Any]:
    from sqlalchemy import select

    from crm.core.audit import AuditEntry

    async def work(s: Any) -> list[Any]:
        rows = await s.scalars(
            select(AuditEntry)
            .where(AuditEntry.ente_id == ente.ente_id, AuditEntry.action == action)
            .order_by(AuditEntry.id)
        )
        return [r.details for r in rows.all()]

    return db.run(work)


def test_what_the_citizen_gives_fills_an_empty_contact(client: httpx.Client, ente_ctx: EnteCtx, db: Any) -> None:
    cid = _anonymous(db, ente_ctx)
    r = client.post(
        f"/api/v1/contacts/{cid}/captured",
        headers=ente_ctx.headers("service"),
        json={
            "first_name": "Mario",
            "last_name": "Rossi",
            "fiscal_code": "rssmra85t10a562s",
            "phone": "333 123 4567",
            "email": "Mario.Rossi@Example.it",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["filled"] == ["first_name", "last_name", "fiscal_code", "phone", "email"] and body["conflicts"] == []
    c = client.get(f"/api/v1/contacts/{cid}", headers=ente_ctx.headers("operator")).json()
    assert (c["first_name"], c["last_name"], c["fiscal_code"]) == ("Mario", "Rossi", "RSSMRA85T10A562S")
    assert c["phones"] == ["+393331234567"] and c["emails"] == ["mario.rossi@example.it"]
    # the audit line names the fields, never what the citizen said
    lines = _audit(db, ente_ctx, "capture")
    assert lines and "Rossi" not in str(lines) and "RSSMRA" not in str(lines)
    # the same again changes nothing and records nothing
    again = client.post(
        f"/api/v1/contacts/{cid}/captured",
        headers=ente_ctx.headers("service"),
        json={"first_name": "mario", "last_name": "ROSSI", "phone": "+39 333 1234567"},
    ).json()
    assert again["filled"] == [] and again["conflicts"] == []
    assert len(_audit(db, ente_ctx, "capture")) == 1


def test_the_name_shows_everywhere_after_the_assistant_got_it(server: Any, ente_ctx: EnteCtx, db: Any) -> None:
    cid = _anonymous(db, ente_ctx, address="tg-515")
    conv = _conversation(db, ente_ctx, cid)
    api = httpx.Client(base_url=server.url, timeout=30)
    api.post(f"/api/v1/conversations/{conv}/handoff", headers=ente_ctx.headers("service"), json={"summary": "x"})
    c = login(server, ente_ctx)
    assert f"Contatto #{cid}" in c.get("/console/inbox?view=waiting").text
    api.post(
        f"/api/v1/contacts/{cid}/captured",
        headers=ente_ctx.headers("service"),
        json={"first_name": "Lucia", "last_name": "Verdi"},
    )
    listing = c.get("/console/inbox?view=waiting").text
    assert "Lucia Verdi" in listing and f"Contatto #{cid}" not in listing
    page = c.get(f"/console/conversations/{conv}").text
    assert "Conversazione con <a" in page and "Lucia Verdi" in page and f"Contatto #{cid}" not in page
    assert "Lucia Verdi" in c.get("/console/inbox/list?view=waiting").json()["html"]


def test_a_channel_name_is_completed_not_contested(client: httpx.Client, ente_ctx: EnteCtx, db: Any) -> None:
    """Telegram gave "Maria Grazia" as first name; the citizen's full name starts with it."""
    cid = _anonymous(db, ente_ctx, address="tg-77", first="Maria Grazia")
    body = client.post(
        f"/api/v1/contacts/{cid}/captured",
        headers=ente_ctx.headers("service"),
        json={"first_name": "Maria", "last_name": "Grazia Bianchi"},
    ).json()
    assert body["filled"] == ["last_name"] and body["conflicts"] == []
    assert (body["contact"]["first_name"], body["contact"]["last_name"]) == ("Maria Grazia", "Bianchi")


def test_an_operators_value_is_kept_and_the_difference_resolved(
    server: Any, client: httpx.Client, ente_ctx: EnteCtx, db: Any
) -> None:
    cid = client.post(
        "/api/v1/contacts",
        headers=ente_ctx.headers("operator"),
        json={"first_name": "Anna", "last_name": "Neri", "phones": ["+39 347 0000001"]},
    ).json()["id"]
    body = client.post(
        f"/api/v1/contacts/{cid}/captured",
        headers=ente_ctx.headers("service"),
        json={"first_name": "Annalisa", "last_name": "Neri", "phone": "+39 347 0000002", "email": "a.neri@example.it"},
    ).json()
    assert body["filled"] == ["email"] and body["conflicts"] == ["first_name", "phone"]
    c = client.get(f"/api/v1/contacts/{cid}", headers=ente_ctx.headers("operator")).json()
    assert c["first_name"] == "Anna" and c["phones"] == ["+393470000001"] and c["emails"] == ["a.neri@example.it"]

    op = login(server, ente_ctx)
    page = op.get(f"/console/contacts/{cid}").text
    assert "Dati diversi indicati dal cittadino" in page
    assert "registrato «Anna», indicato «Annalisa»" in page and "indicato «+393470000002»" in page
    ids = re.findall(rf'action="/console/contacts/{cid}/conflicts/(\d+)"', page)
    assert len(ids) == 2
    token = csrf(page)
    used = op.post(
        f"/console/contacts/{cid}/conflicts/{ids[0]}",
        data={"csrf": token, "scelta": "usa", "back": f"/console/contacts/{cid}"},
    )
    assert used.status_code == 303 and used.headers["location"] == f"/console/contacts/{cid}?esito=usato"
    kept = op.post(
        f"/console/contacts/{cid}/conflicts/{ids[1]}",
        data={"csrf": token, "scelta": "mantieni", "back": "https://altrove.example/"},
    )
    assert kept.headers["location"] == f"/console/contacts/{cid}?esito=mantenuto"
    again = op.post(f"/console/contacts/{cid}/conflicts/{ids[1]}", data={"csrf": token, "scelta": "usa"})
    assert again.headers["location"].endswith("esito=risolto")
    c = client.get(f"/api/v1/contacts/{cid}", headers=ente_ctx.headers("operator")).json()
    assert c["first_name"] == "Annalisa" and c["phones"] == ["+393470000001"]
    after = op.get(f"/console/contacts/{cid}?esito=usato").text
    assert "Dati diversi indicati dal cittadino" not in after and "Il dato indicato dal cittadino" in after
    # a value decided on is not raised again
    body = client.post(
        f"/api/v1/contacts/{cid}/captured",
        headers=ente_ctx.headers("service"),
        json={"first_name": "Annalisa", "phone": "+39 347 0000002"},
    ).json()
    assert body["conflicts"] == [] and body["filled"] == []
    resolved = _audit(db, ente_ctx, "resolve_conflict")
    assert sorted(d["resolution"] for d in resolved) == ["kept", "used"] and "Annalisa" not in str(resolved)


def test_use_this_phone_makes_it_the_first(server: Any, client: httpx.Client, ente_ctx: EnteCtx) -> None:
    cid = client.post(
        "/api/v1/contacts", headers=ente_ctx.headers("operator"), json={"phones": ["+39 347 0000011"]}
    ).json()["id"]
    client.post(f"/api/v1/contacts/{cid}/captured", headers=ente_ctx.headers("service"), json={"phone": "3470000012"})
    op = login(server, ente_ctx)
    page = op.get(f"/console/contacts/{cid}").text
    kid = re.search(rf'action="/console/contacts/{cid}/conflicts/(\d+)"', page).group(1)  # type: ignore[union-attr]
    op.post(f"/console/contacts/{cid}/conflicts/{kid}", data={"csrf": csrf(page), "scelta": "usa"})
    c = client.get(f"/api/v1/contacts/{cid}", headers=ente_ctx.headers("operator")).json()
    assert c["phones"] == ["+393470000012", "+393470000011"]


def test_another_contacts_fiscal_code_is_not_taken(client: httpx.Client, ente_ctx: EnteCtx, db: Any) -> None:
    client.post(
        "/api/v1/contacts",
        headers=ente_ctx.headers("operator"),
        json={"first_name": "Gino", "fiscal_code": "RSSMRA85T10A562S"},
    )
    cid = _anonymous(db, ente_ctx, address="tg-99")
    body = client.post(
        f"/api/v1/contacts/{cid}/captured",
        headers=ente_ctx.headers("service"),
        json={"fiscal_code": "RSSMRA85T10A562S"},
    ).json()
    assert body["filled"] == [] and body["contact"]["fiscal_code"] is None
    assert _audit(db, ente_ctx, "capture")[-1]["skipped"] == ["fiscal_code"]


def test_who_may_capture_and_resolve(
    server: Any, client: httpx.Client, ente_ctx: EnteCtx, other_ente: EnteCtx, db: Any
) -> None:
    cid = _anonymous(db, ente_ctx, address="tg-31")
    path = f"/api/v1/contacts/{cid}/captured"
    assert client.post(path, headers=ente_ctx.headers("operator"), json={"first_name": "X"}).status_code == 403
    assert client.post(path, headers=other_ente.headers("service"), json={"first_name": "X"}).status_code == 404
    bad = client.post(path, headers=ente_ctx.headers("service"), json={"fiscal_code": "RSSMRA85T10A562X"})
    assert bad.status_code == 422 and "fiscal_code" in bad.json()["error"]["fields"]


def test_anonymous_bot_only_sessions_are_not_open_conversations(server: Any, ente_ctx: EnteCtx, db: Any) -> None:
    """The assistant alone handled them: not the operators' work, unless searched for or handed off."""
    bot_only = _conversation(db, ente_ctx, _anonymous(db, ente_ctx, address="tg-bot-only"), "orari anagrafe")
    handed = _conversation(db, ente_ctx, _anonymous(db, ente_ctx, address="tg-handed"), "voglio un operatore")
    api = httpx.Client(base_url=server.url, timeout=30)
    api.post(f"/api/v1/conversations/{handed}/handoff", headers=ente_ctx.headers("service"), json={"summary": "x"})
    op = login(server, ente_ctx)

    def listed(url: str) -> set[int]:
        return {int(x) for x in re.findall(r'class="ws-item[^"]*" data-id="(\d+)"', op.get(url).text)}

    for view in ("all", "unassigned", "waiting", "open"):
        rows = listed(f"/console/inbox?view={view}")
        assert bot_only not in rows, view
        assert handed in rows, view
    assert bot_only in listed("/console/inbox?view=all&q=anagrafe")


# --- (b) the contact edited in place in the workspace's context panel -------------------------------------------------
def _inline(op: httpx.Client, cid: int, conv: int, token: str, **fields: str) -> httpx.Response:
    data = {"csrf": token, "conv": str(conv), "first_name": "", "last_name": "", "fiscal_code": "", "phone": ""}
    data |= {"email": ""} | fields
    return op.post(f"/console/contacts/{cid}/inline", data=data, headers={"X-Requested-With": "workspace"})


def test_the_contact_is_edited_in_place_with_italian_errors(
    server: Any, client: httpx.Client, ente_ctx: EnteCtx, db: Any
) -> None:
    cid = client.post(
        "/api/v1/contacts",
        headers=ente_ctx.headers("operator"),
        json={"first_name": "Pia", "phones": ["+39 347 0000021", "+39 06 1234567"], "emails": ["pia@example.it"]},
    ).json()["id"]
    conv = _conversation(db, ente_ctx, cid)
    op = login(server, ente_ctx)
    page = op.get(f"/console/conversations/{conv}").text
    assert "Modifica i dati qui" in page and 'value="+393470000021"' in page
    token = csrf(page)
    bad = _inline(
        op, cid, conv, token, first_name="Pia", fiscal_code="RSSMRA85T10A562X", phone="12", email="pia@", last_name="B"
    )
    assert bad.status_code == 422 and bad.json()["ok"] is False
    html = bad.json()["html"]
    assert "Codice fiscale non valido" in html and "Numero di telefono non valido" in html
    assert "Indirizzo e-mail non valido" in html and 'aria-invalid="true"' in html and "<details" in html
    assert 'value="RSSMRA85T10A562X"' in html  # what was typed stays to be corrected
    c = client.get(f"/api/v1/contacts/{cid}", headers=ente_ctx.headers("operator")).json()
    assert c["last_name"] == "" and c["fiscal_code"] is None

    ok = _inline(
        op,
        cid,
        conv,
        token,
        first_name="Pia",
        last_name="Bruni",
        fiscal_code="rssmra85t10a562s",
        phone="347 0000022",
        email="pia.bruni@example.it",
    )
    assert ok.status_code == 200 and ok.json()["ok"] is True
    assert "Dati del contatto salvati." in ok.json()["html"] and "Pia Bruni" in ok.json()["html"]
    c = client.get(f"/api/v1/contacts/{cid}", headers=ente_ctx.headers("operator")).json()
    assert (c["last_name"], c["fiscal_code"]) == ("Bruni", "RSSMRA85T10A562S")
    assert c["phones"] == ["+393470000022", "+39061234567"] and c["emails"] == ["pia.bruni@example.it"]
    assert "Pia Bruni" in op.get(f"/console/conversations/{conv}/live").json()["head"]
    assert _audit(db, ente_ctx, "update")[-1]["fields"] == ["fiscal_code", "last_name", "phones", "emails"]

    # the codice fiscale of somebody else: said so, nothing saved
    other = client.post(
        "/api/v1/contacts", headers=ente_ctx.headers("operator"), json={"fiscal_code": "BNCGNN80A01H501T"}
    )
    assert other.status_code == 201, other.text
    taken = _inline(op, cid, conv, token, first_name="Pia", last_name="Bruni", fiscal_code="BNCGNN80A01H501T")
    assert taken.status_code == 422 and "già di un altro contatto" in taken.json()["html"]
    # without script: back to the conversation
    plain = op.post(
        f"/console/contacts/{cid}/inline",
        data={"csrf": token, "conv": str(conv), "first_name": "Pia", "last_name": "Bruni", "phone": "3470000022"},
    )
    assert plain.status_code == 303 and plain.headers["location"].startswith(f"/console/conversations/{conv}?esito=")
    # the panel alone, for the script
    panel = op.get(f"/console/conversations/{conv}/contact?esito=salvato").json()["html"]
    assert "Pia Bruni" in panel and "Dati del contatto salvati." in panel


def test_in_place_edit_needs_the_conversations_own_contact(
    server: Any, client: httpx.Client, ente_ctx: EnteCtx, db: Any
) -> None:
    cid = client.post("/api/v1/contacts", headers=ente_ctx.headers("operator"), json={"first_name": "Eva"}).json()["id"]
    stranger = client.post("/api/v1/contacts", headers=ente_ctx.headers("operator"), json={}).json()["id"]
    conv = _conversation(db, ente_ctx, cid)
    op = login(server, ente_ctx)
    token = csrf(op.get(f"/console/conversations/{conv}").text)
    assert _inline(op, stranger, conv, token, first_name="X").status_code == 403
    assert client.get(f"/api/v1/contacts/{stranger}", headers=ente_ctx.headers("operator")).json()["first_name"] == ""


# --- (c) per-operator unread counts ----------------------------------------------------------------------------------
def _badge(html: str, conv: int) -> int:
    row = re.search(rf'data-id="{conv}">.*?</li>', html, re.S)
    assert row, f"conversation {conv} not listed"
    count = re.search(r'class="badge[^"]*ws-unread"[^>]*>(\d+)', row.group(0))
    return int(count.group(1)) if count else 0


def test_unread_counts_are_per_operator_and_clear_when_opened(server: Any, ente_ctx: EnteCtx, db: Any) -> None:
    from crm.conversations import service

    cid = _anonymous(db, ente_ctx, address="tg-unread")
    conv = _conversation(db, ente_ctx, cid, "prima domanda")
    _conversation(db, ente_ctx, cid, "seconda domanda")

    async def bot_reply(s: Any) -> None:
        c = await service.get(s, ente_id=ente_ctx.ente_id, conversation_id=conv)
        await service.record_outbound(s, conv=c, text="risposta", author_kind="bot")

    db.run(bot_reply)
    api = httpx.Client(base_url=server.url, timeout=30)
    api.post(f"/api/v1/conversations/{conv}/handoff", headers=ente_ctx.headers("service"), json={"summary": "x"})
    mario, luisa = login(server, ente_ctx), login(server, ente_ctx, "operator2")
    # never opened: every message the citizen wrote is new to them (the assistant's reply is not)
    assert _badge(mario.get("/console/inbox?view=all").text, conv) == 2
    assert (
        'title="Messaggi non letti">2<span class="visually-hidden"> messaggi non letti'
        in mario.get("/console/inbox?view=all").text
    )
    mario.get(f"/console/conversations/{conv}")
    assert _badge(mario.get("/console/inbox?view=all").text, conv) == 0
    assert _badge(luisa.get("/console/inbox/list?view=all").json()["html"], conv) == 2  # Luisa has not read it
    _conversation(db, ente_ctx, cid, "terza domanda")
    assert _badge(mario.get("/console/inbox/list?view=all").json()["html"], conv) == 1
    assert _badge(luisa.get("/console/inbox?view=all").text, conv) == 3
    # the open thread's live refresh reads what it shows
    mario.get(f"/console/conversations/{conv}/live?after=0")
    assert _badge(mario.get("/console/inbox?view=all").text, conv) == 0
    # the open conversation itself carries no badge
    _conversation(db, ente_ctx, cid, "quarta")
    assert _badge(mario.get(f"/console/inbox/list?view=all&current={conv}").json()["html"], conv) == 0
