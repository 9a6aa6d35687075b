"""Console screens for admins: knowledge base, dashboard, operators and settings, contact 360 (edit, merge, GDPR),
driven over HTTP against the real server with the session form and the CSRF token; results checked through the API."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta
from html import unescape as html_unescape
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pypdf

from tests.conftest import VALID_CF
from tests.console.test_console import csrf, login
from tests.console.test_console_screens import _book_api, _contact, _free, _service, check_page

ROME = ZoneInfo("Europe/Rome")
BODY = (
    "Il permesso di ormeggio delle gondole sul lago comunale si chiede all'**Ufficio Porto** entro marzo.\n\n"
    "- costa 40 euro l'anno\n- serve la carta d'identità\n\n<script>alert(1)</script>"
    "[modulo](javascript:alert(2))"
)


def _search(client: httpx.Client, ente_ctx, q: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = client.get("/api/v1/kb/search", params={"q": q, "k": 3}, headers=ente_ctx.headers("service"))
    assert r.status_code == 200, r.text
    return r.json()


def _section(page: str, section_id: str) -> str:
    m = re.search(rf'id="{section_id}".*?</section>', page, re.S)
    assert m, f"no section {section_id}"
    return m.group(0)


def _article_id(location: str) -> int:
    m = re.fullmatch(r"/console/kb/(\d+)\?esito=\w+", location)
    assert m, location
    return int(m.group(1))


# --- knowledge base -------------------------------------------------------------------------------------------------
def test_kb_create_preview_edit_publish_archive_restore(server, client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    c = login(server, ente_ctx, "admin")
    form = c.get("/console/kb/new")
    assert form.status_code == 200 and 'name="body"' in form.text
    check_page(form.text)
    token = csrf(form.text)
    base = {
        "csrf": token,
        "title": "Permesso per l'ormeggio delle gondole",
        "slug": "",
        "body": BODY,
        "topic": "urp",
        "office_id": str(ente_ctx.offices["URP"]),
        "url": "https://www.comune.example.it/gondole",
        "valid_from": "",
        "valid_until": "",
        "keywords": "gondola, ormeggio, porto",
        "phrasings": "come ormeggio la gondola?\ndove parcheggio la barca",
    }
    # the preview is rendered by the server with the API's sanitiser; nothing is saved
    prev = c.post("/console/kb/new", data={**base, "azione": "anteprima"})
    shown = _section(prev.text, "anteprima")
    assert prev.status_code == 200 and "<strong>Ufficio Porto</strong>" in shown and "<li>costa 40 euro" in shown
    assert "<script>alert" not in prev.text and "alert(1)" not in shown and 'href="javascript:' not in shown
    assert "&lt;script&gt;" in prev.text  # what was typed stays in the textarea, escaped
    check_page(prev.text)
    assert client.get("/api/v1/kb/articles", headers=ente_ctx.headers("admin")).json()["total"] == 0
    # Italian errors next to the fields
    bad = c.post(
        "/console/kb/new",
        data={
            **base,
            "body": "corto",
            "url": "www.x.it",
            "valid_from": "2026-05-01",
            "valid_until": "2026-01-01",
            "azione": "salva",
        },
    )
    assert bad.status_code == 422 and 'id="kb-body-err"' in bad.text and "almeno 10 caratteri" in bad.text
    assert "https://" in bad.text and 'id="kb-until-err"' in bad.text and 'id="kb-url-err"' in bad.text
    check_page(bad.text)
    blank = c.post("/console/kb/new", data={**base, "body": " " * 20, "azione": "salva"})
    assert blank.status_code == 422 and "Scriva il testo della scheda" in blank.text
    assert c.post("/console/kb/new", data={**base, "csrf": "", "azione": "salva"}).status_code == 403
    made = c.post("/console/kb/new", data={**base, "azione": "salva"})
    assert made.status_code == 303 and made.headers["location"].endswith("?esito=creata")
    aid = _article_id(made.headers["location"])
    a = client.get(f"/api/v1/kb/articles/{aid}", headers=ente_ctx.headers("admin")).json()
    assert a["slug"] == "permesso-per-l-ormeggio-delle-gondole" and a["status"] == "draft" and a["version"] == 1
    assert a["keywords"] == ["gondola", "ormeggio", "porto"] and a["office_id"] == ente_ctx.offices["URP"]
    assert a["phrasings"] == ["come ormeggio la gondola?", "dove parcheggio la barca"] and a["topic"] == "urp"
    dup = c.post("/console/kb/new", data={**base, "azione": "salva"})
    assert dup.status_code == 409 and "Esiste già una scheda" in dup.text
    page = c.get(made.headers["location"])
    assert "Scheda creata come bozza" in page.text and "<strong>Ufficio Porto</strong>" in page.text
    assert "<script>alert" not in page.text and "alert(1)" not in page.text and "È una bozza" in page.text
    check_page(page.text)
    assert _search(client, ente_ctx, "ormeggio gondole")["results"] == []  # a draft does not answer

    # publish through the console: the bot's search answers with it at once
    r = c.post(f"/console/kb/{aid}/publish", data={"csrf": token})
    assert r.status_code == 303 and r.headers["location"] == f"/console/kb/{aid}?esito=pubblicata"
    res = _search(client, ente_ctx, "come chiedo il permesso per ormeggiare la gondola?")
    assert res["answerable"] is True and res["results"][0]["slug"] == a["slug"]

    # edit: a new version, searchable at once
    edit = c.get(f"/console/kb/{aid}/edit")
    assert edit.status_code == 200 and "Ufficio Porto" in edit.text and 'name="version" value="2"' in edit.text
    check_page(edit.text)
    new_body = "Le gondole si ormeggiano con il permesso del Capitano di porto, che riceve il giovedì."
    changed = {**base, "body": new_body, "version": "2"}
    prev = c.post(f"/console/kb/{aid}/edit", data={**changed, "azione": "anteprima"})
    assert prev.status_code == 200 and "Capitano di porto" in prev.text
    r = c.post(f"/console/kb/{aid}/edit", data={**changed, "azione": "salva"})
    assert r.status_code == 303 and r.headers["location"] == f"/console/kb/{aid}?esito=salvata"
    stale = c.post(
        f"/console/kb/{aid}/edit", data={**changed, "body": new_body + " Anche il venerdì.", "azione": "salva"}
    )
    assert stale.status_code == 409 and "modificata da un altro utente" in stale.text  # version 2 is old now
    assert "Capitano" in _search(client, ente_ctx, "permesso ormeggio gondole")["results"][0]["snippet"]

    # archive: no longer answerable
    assert c.post(f"/console/kb/{aid}/archive", data={"csrf": token}).status_code == 303
    res = _search(client, ente_ctx, "permesso ormeggio gondole")
    assert a["slug"] not in [x["slug"] for x in res["results"]] and res["answerable"] is False

    # history and restore of version 2 (published, first body)
    page = c.get(f"/console/kb/{aid}")
    assert page.status_code == 200 and "Archiviata" in page.text and page.text.count("Ripristina") >= 3
    check_page(page.text)
    v2 = c.get(f"/console/kb/{aid}/versions/2")
    assert v2.status_code == 200 and "<strong>Ufficio Porto</strong>" in v2.text
    check_page(v2.text)
    r = c.post(f"/console/kb/{aid}/restore", data={"csrf": token, "version": "2"})
    assert r.status_code == 303 and r.headers["location"].endswith("?esito=ripristinata")
    a = client.get(f"/api/v1/kb/articles/{aid}", headers=ente_ctx.headers("admin")).json()
    assert a["version"] == 5 and a["status"] == "published" and "Ufficio Porto" in a["body"]
    assert _search(client, ente_ctx, "ormeggio gondole")["results"][0]["slug"] == a["slug"]
    page = c.get(r.headers["location"]).text
    assert "ripristino della versione 2" in page and "Versione ripristinata" in page
    versions = client.get(f"/api/v1/kb/articles/{aid}/versions", headers=ente_ctx.headers("admin")).json()["items"]
    assert [v["author"] for v in versions] == [ente_ctx.usernames["admin"]] * 5
    audit = client.get(
        "/api/v1/audit", params={"entity": "kb_article", "entity_id": aid}, headers=ente_ctx.headers("admin")
    ).json()["items"]
    assert {e["action"] for e in audit} == {"create", "published", "update", "archived", "restore"}

    # list with filters and feedback counts
    client.post(
        "/api/v1/kb/feedback",
        json={"slug": a["slug"], "query": "gondole", "helpful": True},
        headers=ente_ctx.headers("service"),
    )
    client.post(
        "/api/v1/kb/feedback",
        json={"slug": a["slug"], "query": "gondole", "helpful": False},
        headers=ente_ctx.headers("service"),
    )
    listing = c.get("/console/kb", params={"stato": "published", "q": "gondole"})
    assert listing.status_code == 200 and f'href="/console/kb/{aid}"' in listing.text and "1 / 1" in listing.text
    check_page(listing.text)
    assert f'/console/kb/{aid}"' not in c.get("/console/kb", params={"stato": "draft"}).text
    assert f'/console/kb/{aid}"' not in c.get("/console/kb", params={"ambito": "anagrafe"}).text
    assert "1 «utile», 1 «non utile»" in c.get(f"/console/kb/{aid}").text


def test_kb_gaps_to_article_and_roles(server, client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    # one article of the Comune's own: a question is then weighed against it and against the other bodies' topics
    gondole = {
        "slug": "ormeggio-gondole",
        "title": "Ormeggio delle gondole",
        "body": "Il permesso si chiede all'Ufficio Porto.",
        "topic": "mobilita",
        "status": "published",
    }
    assert client.post("/api/v1/kb/articles", json=gondole, headers=ente_ctx.headers("admin")).status_code == 201
    for q in ("come rinnovo il passaporto?", "come rinnovo il passaporto scaduto", "chi ha vinto la partita?"):
        assert _search(client, ente_ctx, q)["answerable"] is False
    assert _search(client, ente_ctx, "a che ora chiude il cimitero comunale?")["redirect"] is None
    c = login(server, ente_ctx, "admin")
    # what nobody answered comes first; what the assistant sent to another body (the Questura) has its own tab
    unanswered = c.get("/console/kb/gaps")
    assert unanswered.status_code == 200 and "cimitero" in unanswered.text and "passaporto" not in unanswered.text
    assert 'aria-current="page">Senza risposta <span class="badge ms-1 bg-primary">1<' in unanswered.text
    check_page(unanswered.text)
    gaps = c.get("/console/kb/gaps", params={"tipo": "altri-enti"})
    assert gaps.status_code == 200 and "passaporto" in gaps.text and "cimitero" not in gaps.text
    assert 'aria-current="page">Indirizzate ad altri enti <span class="badge ms-1 bg-primary">3<' in gaps.text
    check_page(gaps.text)
    unknown = c.get("/console/kb/gaps", params={"tipo": "<script>"}).text  # an unknown tab: the first one
    assert "cimitero" in unknown and "passaporto" not in unknown and "<script>" not in unknown
    link = re.search(r'href="(/console/kb/new\?[^"]+)"', gaps.text).group(1).replace("&amp;", "&")
    form = c.get(link)
    assert form.status_code == 200 and 'value="come rinnovo il passaporto' in form.text
    assert "domande senza risposta" in form.text.lower()
    check_page(form.text)
    lacune = re.search(r'name="lacune" value="([^"]+)"', form.text).group(1)
    assert len(lacune.split(",")) == 2
    r = c.post(
        "/console/kb/new",
        data={
            "csrf": csrf(form.text),
            "lacune": lacune,
            "title": "Rinnovo del passaporto",
            "body": "Il passaporto si rinnova in Questura, non in Comune.",
            "azione": "salva",
        },
    )
    assert r.status_code == 303 and r.headers["location"].endswith("?esito=creata_lacune")
    left = client.get("/api/v1/kb/gaps", headers=ente_ctx.headers("admin")).json()
    assert left["questions"] == 2 and left["counts"] == {"unanswered": 1, "not_helpful": 0, "redirected": 1}
    assert sorted(g["label"] for g in left["items"]) == [
        "a che ora chiude il cimitero comunale?",
        "chi ha vinto la partita?",
    ]
    # operators read the knowledge base, cannot change it; a phone operator does not see it
    op = login(server, ente_ctx, "operator")
    page = op.get("/console/kb")
    assert page.status_code == 200 and "Rinnovo del passaporto" in page.text and "/console/kb/new" not in page.text
    aid = _article_id(r.headers["location"])
    view = op.get(f"/console/kb/{aid}")
    assert view.status_code == 200 and "/edit" not in view.text and "Pubblica" not in view.text
    assert op.get("/console/kb/gaps").status_code == 200
    assert op.get("/console/kb/new").status_code == 403
    assert op.get(f"/console/kb/{aid}/edit").status_code == 403
    denied = op.post(f"/console/kb/{aid}/publish", data={"csrf": csrf(page.text)})
    assert denied.status_code == 403 and "Il suo ruolo non consente" in denied.text
    check_page(denied.text)
    assert client.get(f"/api/v1/kb/articles/{aid}", headers=ente_ctx.headers("admin")).json()["status"] == "draft"
    # a phone operator answers information calls from the schede: reads them, searches them from the call screen,
    # writes nothing and does not see the citizens' unanswered questions
    phone = login(server, ente_ctx, "phone_operator")
    listed = phone.get("/console/kb", params={"q": "passaporto"})
    assert listed.status_code == 200 and "Rinnovo del passaporto" in listed.text
    assert "/console/kb/new" not in listed.text and "/console/kb/gaps" not in listed.text
    read = phone.get(f"/console/kb/{aid}")
    assert read.status_code == 200 and "/edit" not in read.text and "Pubblica" not in read.text
    assert phone.get("/console/kb/gaps").status_code == 403 and phone.get("/console/kb/new").status_code == 403
    assert phone.post(f"/console/kb/{aid}/publish", data={"csrf": csrf(listed.text)}).status_code == 403
    call = phone.get("/console/intake").text
    assert 'action="/console/kb"' in call and "Cerca nelle schede" in call


# --- dashboard ------------------------------------------------------------------------------------------------------
def _conversation(client: httpx.Client, ente_ctx, db, channel: str, text: str) -> int:  # type: ignore[no-untyped-def]
    from crm.conversations import service

    cid = _contact(client, ente_ctx, "Dario")

    async def work(s):  # type: ignore[no-untyped-def]
        conv, _, _ = await service.record_inbound(
            s, ente_id=ente_ctx.ente_id, contact_id=cid, channel=channel, text=text, channel_message_id=None
        )
        return conv.id

    return db.run(work)


def _rate(db, ente_ctx, conversation_id: int, *answers: str) -> None:  # type: ignore[no-untyped-def]
    """The citizen's answers to the satisfaction question, through the command the channel hub calls."""
    from crm.conversations import commands
    from crm.conversations import service as conversations
    from crm.conversations.models import Conversation
    from crm.core.auth import Principal
    from crm.core.commands import Context

    for text in answers:

        async def answer(s, text=text):  # type: ignore[no-untyped-def]
            conv = await s.get(Conversation, conversation_id)
            rating = await conversations.open_rating(
                s, ente_id=ente_ctx.ente_id, contact_id=conv.contact_id, channel=conv.channel
            )
            cx = Context(principal=Principal.system(ente_ctx.ente_id, "tests"), session=s)
            assert await commands.answer_rating(cx, rating_id=rating.id, text=text) is not None

        db.run(answer)


def test_dashboard_with_real_data_and_csv(server, client: httpx.Client, ente_ctx, db) -> None:  # type: ignore[no-untyped-def]
    op, svc_h = ente_ctx.headers("operator"), ente_ctx.headers("service")
    # conversations: one handled by the bot alone (closed), one handed to an operator, one still with the bot
    bot_only = _conversation(client, ente_ctx, db, "web", "orari anagrafe")
    assert client.post(f"/api/v1/conversations/{bot_only}/close", headers=svc_h).status_code == 200
    handed = _conversation(client, ente_ctx, db, "telegram", "voglio un operatore")
    assert (
        client.post(
            f"/api/v1/conversations/{handed}/handoff",
            headers=svc_h,
            json={"topic": "urp", "summary": "Chiede un operatore"},
        ).status_code
        == 200
    )
    assert client.post(f"/api/v1/conversations/{handed}/take", headers=op).status_code == 200
    # the operator closes it; the citizen answers the satisfaction question (4, then a comment) through its command
    assert client.post(f"/api/v1/conversations/{handed}/close", headers=op).status_code == 200
    _rate(db, ente_ctx, handed, "4", "Gentilissimi")
    _conversation(client, ente_ctx, db, "web", "ciao")
    # requests: one taken in charge and resolved, one still new
    cid = _contact(client, ente_ctx, "Elena")
    t1 = client.post(
        "/api/v1/requests",
        json={"contact_id": cid, "kind": "report", "subject": "Buca", "priority": "alta"},
        headers=op,
    ).json()
    for to in ("in_charge", "resolved"):
        r = client.post(f"/api/v1/requests/{t1['id']}/transition", json={"to": to}, headers=op)
        assert r.status_code == 200, r.text
    client.post("/api/v1/requests", json={"contact_id": cid, "kind": "information", "subject": "Orari"}, headers=op)
    # bookings: two made, one cancelled
    svc = _service(client, ente_ctx)
    free = _free(client, ente_ctx, svc)
    _book_api(client, ente_ctx, svc, cid, free[0])
    b2 = _book_api(client, ente_ctx, svc, _contact(client, ente_ctx, "Franco"), free[1])
    assert client.post(f"/api/v1/bookings/{b2['id']}/cancel", json={}, headers=op).status_code == 200
    # unanswered questions, one of them a spreadsheet formula
    for q in ('=HYPERLINK("http://evil.example","clicca")', "quanto costa la mensa scolastica?"):
        assert client.get("/api/v1/kb/search", params={"q": q}, headers=svc_h).json()["answerable"] is False

    # a question sent to another body (the Questura) was answered with where to go: not among the unanswered
    async def redirected(s):  # type: ignore[no-untyped-def]
        from crm.kb import service as kb
        from knowledge.index import OUT_OF_COMPETENCE

        await kb.record_gap(
            s,
            ente_id=ente_ctx.ente_id,
            query="come rinnovo il passaporto?",
            reason=OUT_OF_COMPETENCE + "Passaporto",
            kind="redirected",
        )

    db.run(redirected)
    c = login(server, ente_ctx, "operator")
    page = c.get("/console/dashboard")
    assert page.status_code == 200 and 'href="/console/dashboard"' in page.text
    check_page(page.text)
    text = page.text
    today = datetime.now(ROME).date()
    assert (
        f"{(today - timedelta(days=29)).strftime('%d/%m/%Y')}</strong> al <strong>{today.strftime('%d/%m/%Y')}" in text
    )
    assert "<svg" in text and 'role="img"' in text and "Totale 3 conversazioni" in text
    # over the finished conversations only (the one still with the bot has no outcome yet)
    assert "Tasso di contenimento <strong>50,0%</strong>" in text and "passaggio a operatore <strong>50,0%" in text
    assert "su 2 conversazioni concluse (1 ancora in corso" in text
    assert "Media <strong>4,00</strong> su 5, soddisfatti (4 o 5) <strong>100,0%</strong>, su 1 risposta" in text
    assert "Carta d&#39;identità" in text and "mensa scolastica" in text
    # no script of its own (the charts are server-drawn SVG): only the console's and Bootstrap Italia's, on every page
    own = text.replace('<script src="/console/static/console.js" defer></script>', "").replace(
        '<script src="/console/static/vendor/bootstrap-italia/js/bootstrap-italia.bundle.min.js" defer></script>', ""
    )
    assert "<script" not in own

    def csv_rows(metric: str, **params: str) -> list[list[str]]:
        r = c.get("/console/dashboard.csv", params={"metric": metric, **params})
        assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
        assert r.headers["content-disposition"].startswith(f'attachment; filename="cruscotto-{metric}-')
        return list(csv.reader(io.StringIO(r.content.decode("utf-8"))))

    conv = csv_rows("conversations")
    assert conv[0] == ["Giorno", "Telegram", "Web chat", "Totale"] and conv[-1] == ["Totale", "1", "2", "3"]
    assert len(conv) == 1 + 30 + 1
    bot = csv_rows("bot")
    assert bot[0] == ["Esito", "Conversazioni", "Quota (%)"] and bot[1][1:] == ["1", "50.0"]
    assert bot[3] == ["Ancora in corso con l'assistente", "1", ""]
    cs = csv_rows("csat")
    assert cs[0] == ["Gruppo", "Nome", "Domande", "Risposte", "Media (da 1 a 5)", "Soddisfatti, 4 o 5 (%)"]
    assert ["Operatore", ente_ctx.usernames["operator"], "1", "1", "4.0", "100.0"] in cs
    assert ["Ambito", "urp", "1", "1", "4.0", "100.0"] in cs and ["Canale", "Telegram", "1", "1", "4.0", "100.0"] in cs
    times = csv_rows("times")
    assert times[0][:4] == ["Priorità", "Richieste aperte", "Prese in carico", "Prima risposta: mediana (ore)"]
    assert times[1][:3] == ["Tutte", "2", "1"] and times[2][:3] == ["Alta", "1", "1"]
    sla = csv_rows("sla")
    assert sla[0][0] == "Priorità" and sla[1][:4] == ["Alta", "8", "1", "1"] and sla[1][6:] == ["100.0", "sì"]
    bk = csv_rows("bookings")
    assert bk[0] == [
        "Servizio",
        "Prenotate",
        "Spostate",
        "Annullate",
        "Presentati",
        "Non presentati",
        "Tasso di assenza (%)",
    ]
    assert bk[1] == ["Carta d'identità", "2", "0", "1", "0", "0", ""] and bk[-1][0] == "Totale"
    gaps = csv_rows("gaps")
    assert gaps[0] == ["Domanda", "Quante volte", "Altri esempi"]
    assert "mensa" in str(gaps) and "passaporto" not in str(gaps) and "passaporto" not in text
    cells = [cell for row in gaps[1:] for cell in row]
    assert '\'=HYPERLINK("http://evil.example","clicca")' in cells
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in gaps + conv + bk for cell in row)
    # another period: nothing happened last year
    old = csv_rows("conversations", da="2020-01-01", a="2020-01-07")
    assert len(old) == 1 + 7 + 1 and old[0] == ["Giorno", "Totale"] and old[-1] == ["Totale", "0"]
    assert "2020" in c.get("/console/dashboard", params={"da": "2020-01-01", "a": "2020-01-07"}).text
    swapped = c.get("/console/dashboard", params={"da": "2020-01-07", "a": "2020-01-01"})
    assert swapped.status_code == 200 and "precede" in swapped.text
    assert c.get("/console/dashboard.csv", params={"metric": "nope"}).status_code == 404
    # roles: a phone operator has no dashboard
    phone = login(server, ente_ctx, "phone_operator")
    assert phone.get("/console/dashboard").status_code == 403
    assert phone.get("/console/dashboard.csv", params={"metric": "bot"}).status_code == 403


# --- operators and settings -----------------------------------------------------------------------------------------
def _login_as(server, username: str, password: str) -> tuple[httpx.Client, httpx.Response]:  # type: ignore[no-untyped-def]
    c = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)
    token = re.search(r'name="prelogin" value="([^"]+)"', c.get("/console/login").text).group(1)
    return c, c.post("/console/login", data={"prelogin": token, "username": username, "password": password})


def test_operators_admin_create_login_role_password_deactivate(server, client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    c = login(server, ente_ctx, "admin")
    page = c.get("/console/operators")
    assert page.status_code == 200 and ente_ctx.usernames["operator"] in page.text
    check_page(page.text)
    form = c.get("/console/operators/new")
    assert form.status_code == 200 and 'type="checkbox"' in form.text and "<legend" in form.text
    check_page(form.text)
    token = csrf(form.text)
    username = f"giulia.neri-{ente_ctx.ente_id}"
    base = {
        "csrf": token,
        "username": username,
        "full_name": "Giulia <Neri>",
        "email": "",
        "role": "operator",
        "topics": ["urp", "anagrafe"],
        "password": "una-password-lunga",
        "password2": "una-password-lunga",
    }
    short = c.post("/console/operators/new", data={**base, "password": "corta", "password2": "corta"})
    assert short.status_code == 422 and "almeno 10 caratteri" in short.text and 'id="op-password-err"' in short.text
    assert 'value="Giulia &lt;Neri&gt;"' in short.text
    check_page(short.text)
    mismatch = c.post("/console/operators/new", data={**base, "password2": "un-altra-password"})
    assert mismatch.status_code == 422 and "non coincidono" in mismatch.text
    bad_name = c.post("/console/operators/new", data={**base, "username": "gi ulia"})
    assert bad_name.status_code == 422 and 'id="op-username-err"' in bad_name.text
    taken = c.post("/console/operators/new", data={**base, "username": ente_ctx.usernames["operator"]})
    assert taken.status_code == 409 and "già usato" in taken.text
    assert c.post("/console/operators/new", data={**base, "csrf": ""}).status_code == 403
    made = c.post("/console/operators/new", data=base)
    assert made.status_code == 303 and made.headers["location"] == "/console/operators?esito=creato"
    ops = client.get("/api/v1/operators", headers=ente_ctx.headers("admin")).json()["items"]
    new = next(o for o in ops if o["username"] == username)
    assert new["role"] == "operator" and new["topics"] == ["anagrafe", "urp"] and new["full_name"] == "Giulia <Neri>"
    # the new operator signs in through the console
    them, r = _login_as(server, username, "una-password-lunga")
    assert r.status_code == 303 and r.headers["location"] == "/console/inbox"
    assert them.get("/api/v1/auth/me").json()["username"] == username
    assert them.get("/console/operators").status_code == 403  # not an admin

    # role and topics
    edit = c.get(f"/console/operators/{new['id']}")
    assert edit.status_code == 200 and "Giulia &lt;Neri&gt;" in edit.text
    check_page(edit.text)
    r = c.post(
        f"/console/operators/{new['id']}",
        data={"csrf": token, "full_name": "Giulia Neri", "email": "", "role": "phone_operator", "topics": ["urp"]},
    )
    assert r.status_code == 303 and r.headers["location"].endswith("?esito=salvato")
    after = next(
        o
        for o in client.get("/api/v1/operators", headers=ente_ctx.headers("admin")).json()["items"]
        if o["id"] == new["id"]
    )
    assert after["role"] == "phone_operator" and after["topics"] == ["urp"] and after["full_name"] == "Giulia Neri"
    # a new role ends the operator's sessions: signed in again, the new role counts
    assert them.get("/console/intake").headers.get("location") == "/console/login"
    them, _ = _login_as(server, username, "una-password-lunga")
    assert them.get("/console/intake").status_code == 200
    assert them.get("/console/operators").status_code == 403
    # an admin cannot lock themselves out
    me = ente_ctx.operator_ids["admin"]
    demote = c.post(f"/console/operators/{me}", data={"csrf": token, "full_name": "", "role": "operator"})
    assert demote.status_code == 422 and "Non può togliere a sé stesso" in demote.text
    assert c.post(f"/console/operators/{me}/active", data={"csrf": token, "active": "0"}).status_code == 409

    # password reset: typed, then generated (shown once)
    short = c.post(f"/console/operators/{new['id']}/password", data={"csrf": token, "password": "x", "password2": "x"})
    assert short.status_code == 422 and 'id="op-new-password-err"' in short.text
    check_page(short.text)
    r = c.post(
        f"/console/operators/{new['id']}/password",
        data={"csrf": token, "password": "nuova-password-99", "password2": "nuova-password-99"},
    )
    assert r.status_code == 200 and "Password cambiata" in r.text
    assert _login_as(server, username, "una-password-lunga")[1].status_code == 401
    assert _login_as(server, username, "nuova-password-99")[1].status_code == 303
    gen = c.post(f"/console/operators/{new['id']}/password", data={"csrf": token, "genera": "1"})
    assert gen.status_code == 200 and gen.headers["cache-control"] == "no-store"
    generated = html_unescape(re.search(r'<strong class="code">([^<]+)</strong>', gen.text).group(1))
    check_page(gen.text)
    them, r = _login_as(server, username, generated)
    assert r.status_code == 303

    # deactivate: the open session stops working and no new login
    r = c.post(f"/console/operators/{new['id']}/active", data={"csrf": token, "active": "0"})
    assert r.status_code == 303 and r.headers["location"].endswith("?esito=disattivato")
    assert them.get("/console/intake").headers.get("location") == "/console/login"
    assert _login_as(server, username, generated)[1].status_code == 401
    assert "Disattivato" in c.get("/console/operators").text
    audit = client.get(
        "/api/v1/audit", params={"entity": "operator", "entity_id": new["id"]}, headers=ente_ctx.headers("admin")
    ).json()["items"]
    actions = [e["action"] for e in audit]
    assert {"create", "update", "password_reset", "deactivate"} <= set(actions) and actions.count("password_reset") == 2
    assert all("nuova-password" not in json.dumps(e["details"]) for e in audit)
    update = next(e for e in audit if e["action"] == "update")
    assert update["details"]["to"]["role"] == "phone_operator" and update["actor_id"] == me


def test_settings_and_admin_screens_refused_to_other_roles(server, client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    c = login(server, ente_ctx, "admin")
    page = c.get("/console/settings")
    assert page.status_code == 200 and "Telegram" in page.text and "Non configurato" in page.text
    assert "Chat sul sito" in page.text and "Lunedì" in page.text and "08:00–12:30, 14:00–17:00" in page.text
    assert "Festa del patrono: 29/06" in page.text and "Anagrafe" in page.text
    check_page(page.text)
    op_id = ente_ctx.operator_ids["operator2"]
    for who in ("operator", "phone_operator", "backoffice"):
        other = login(server, ente_ctx, who)
        token = csrf(other.get("/console/requests").text)
        nav = other.get("/console/requests").text
        assert 'href="/console/operators"' not in nav and 'href="/console/settings"' not in nav
        for url in (
            "/console/operators",
            "/console/operators/new",
            f"/console/operators/{op_id}",
            "/console/settings",
            "/console/kb/new",
        ):
            r = other.get(url)
            assert r.status_code == 403 and "Il suo ruolo non consente" in r.text, (who, url)
        for url, data in (
            (
                "/console/operators/new",
                {"username": "abusivo", "role": "admin", "password": "x" * 12, "password2": "x" * 12},
            ),
            (f"/console/operators/{op_id}/active", {"active": "0"}),
            (f"/console/operators/{op_id}/password", {"genera": "1"}),
        ):
            assert other.post(url, data={**data, "csrf": token}).status_code == 403, (who, url)
    ops = client.get("/api/v1/operators", headers=ente_ctx.headers("admin")).json()["items"]
    assert all(o["active"] for o in ops) and "abusivo" not in [o["username"] for o in ops]


# --- contact 360: edit, merge, GDPR ---------------------------------------------------------------------------------
def test_contact_edit_merge_export_erase(server, client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    admin_h, op_h = ente_ctx.headers("admin"), ente_ctx.headers("operator")
    a = client.post(
        "/api/v1/contacts", json={"first_name": "Ada", "last_name": "Lovelace", "phones": ["3451112233"]}, headers=op_h
    ).json()
    b = client.post(
        "/api/v1/contacts",
        json={"first_name": "Ada", "last_name": "Lovelace", "emails": ["ada@example.org"]},
        headers=op_h,
    ).json()
    holder = client.post(
        "/api/v1/contacts", json={"first_name": "Carlo", "last_name": "Verdi", "fiscal_code": VALID_CF}, headers=op_h
    ).json()
    ticket = client.post(
        "/api/v1/requests",
        json={
            "contact_id": b["id"],
            "kind": "complaint",
            "subject": "Rumori",
            "description": "Il vicino di Ada fa rumore",
        },
        headers=op_h,
    ).json()
    c = login(server, ente_ctx, "operator")
    page = c.get(f"/console/contacts/{a['id']}")
    assert page.status_code == 200 and f"/console/contacts/{a['id']}/merge" in page.text
    check_page(page.text)
    token = csrf(page.text)

    # edit details and consents: errors name the wrong line, in Italian
    form = c.get(f"/console/contacts/{a['id']}/edit")
    assert form.status_code == 200 and "+393451112233" in form.text
    check_page(form.text)
    base = {
        "csrf": token,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "fiscal_code": "",
        "phones": "+393451112233\n3479876543",
        "emails": "ada.l@example.org",
        "preferred_channel": "sms",
        "consent_privacy": "1",
        "notes": "Preferisce essere chiamata al mattino",
    }
    bad = c.post(f"/console/contacts/{a['id']}/edit", data={**base, "phones": "123"})
    assert bad.status_code == 422 and "Numero di telefono non valido: «123»" in bad.text
    assert 'id="ct-phones-err"' in bad.text
    check_page(bad.text)
    taken = c.post(f"/console/contacts/{a['id']}/edit", data={**base, "fiscal_code": VALID_CF.lower()})
    assert taken.status_code == 409 and "già di un altro contatto" in taken.text
    wrong_cf = c.post(f"/console/contacts/{a['id']}/edit", data={**base, "fiscal_code": "RSSMRA80A01H501X"})
    assert wrong_cf.status_code == 422 and "Codice fiscale non valido" in wrong_cf.text
    assert c.post(f"/console/contacts/{a['id']}/edit", data={**base, "csrf": ""}).status_code == 403
    r = c.post(f"/console/contacts/{a['id']}/edit", data=base)
    assert r.status_code == 303 and r.headers["location"] == f"/console/contacts/{a['id']}?esito=salvato"
    got = client.get(f"/api/v1/contacts/{a['id']}", headers=admin_h).json()
    assert got["phones"] == ["+393451112233", "+393479876543"] and got["emails"] == ["ada.l@example.org"]
    assert got["consent_privacy"] is True and got["consent_notifications"] is False
    assert got["preferred_channel"] == "sms" and got["notes"] == "Preferisce essere chiamata al mattino"
    assert "Dati del contatto salvati" in c.get(r.headers["location"]).text

    # merge: find the duplicate, compare both, confirm
    found = c.get(f"/console/contacts/{a['id']}/merge", params={"q": "Lovelace"})
    assert found.status_code == 200 and f"/console/contacts/{a['id']}/merge/{b['id']}" in found.text
    assert f'/merge/{a["id"]}"' not in found.text  # not itself
    check_page(found.text)
    confirm = c.get(f"/console/contacts/{a['id']}/merge/{b['id']}")
    assert confirm.status_code == 200 and "ada@example.org" in confirm.text and "+393451112233" in confirm.text
    assert f"/console/contacts/{b['id']}/merge/{a['id']}" in confirm.text  # the other way round
    check_page(confirm.text)
    url = f"/console/contacts/{a['id']}/merge"
    assert c.post(url, data={"source_id": str(b["id"])}).status_code == 403  # no CSRF token
    r = c.post(url, data={"csrf": token, "source_id": str(b["id"])})
    assert r.status_code == 303 and r.headers["location"] == f"/console/contacts/{a['id']}?esito=unito"
    merged = client.get(f"/api/v1/contacts/{b['id']}", headers=admin_h).json()
    assert merged["merged_into_id"] == a["id"]
    assert "ada@example.org" in client.get(f"/api/v1/contacts/{a['id']}", headers=admin_h).json()["emails"]
    assert client.get(f"/api/v1/requests/{ticket['id']}", headers=admin_h).json()["contact_id"] == a["id"]
    again = c.post(url, data={"csrf": token, "source_id": str(b["id"])})
    assert again.status_code == 409 and "è stato unito a un altro" in again.text
    check_page(again.text)
    assert "Rumori" in c.get(f"/console/contacts/{a['id']}").text
    assert "unito a un altro" in c.get(f"/console/contacts/{b['id']}").text
    stale = c.post(f"/console/contacts/{b['id']}/edit", data={**base, "emails": ""})  # the merged one stays as it is
    assert stale.status_code == 409 and "lavori sul contatto che lo ha assorbito" in stale.text

    # GDPR export: JSON and PDF, audited
    gdpr_page = c.get(f"/console/contacts/{a['id']}/gdpr")
    assert gdpr_page.status_code == 200 and "riservata agli amministratori" in gdpr_page.text
    check_page(gdpr_page.text)
    exp = c.get(f"/console/contacts/{a['id']}/export.json")
    assert exp.status_code == 200 and exp.headers["content-type"].startswith("application/json")
    assert exp.headers["content-disposition"] == f'attachment; filename="dati-contatto-{a["id"]}.json"'
    data = json.loads(exp.content)
    assert data["contact"]["id"] == a["id"] and data["tickets"][0]["subject"] == "Rumori"
    pdf = c.get(f"/console/contacts/{a['id']}/export.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and pdf.headers["content-disposition"].endswith('.pdf"')
    pdf_text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Ada" in pdf_text and "Lovelace" in pdf_text and "Rumori" in pdf_text and "+393479876543" in pdf_text

    # erasure: admins only, confirmed by typing the name or CANCELLA
    assert c.get(f"/console/contacts/{a['id']}/erase").status_code == 403
    assert c.post(f"/console/contacts/{a['id']}/erase", data={"csrf": token, "conferma": "CANCELLA"}).status_code == 403
    adm = login(server, ente_ctx, "admin")
    form = adm.get(f"/console/contacts/{a['id']}/erase")
    assert form.status_code == 200 and "non si può annullare" in form.text
    check_page(form.text)
    adm_token = csrf(form.text)
    assert adm.post(f"/console/contacts/{a['id']}/erase", data={"conferma": "CANCELLA"}).status_code == 403
    wrong = adm.post(f"/console/contacts/{a['id']}/erase", data={"csrf": adm_token, "conferma": "Ada"})
    assert wrong.status_code == 422 and 'id="erase-confirm-err"' in wrong.text and "CANCELLA" in wrong.text
    check_page(wrong.text)
    assert client.get(f"/api/v1/contacts/{a['id']}", headers=admin_h).json()["anonymised"] is False
    r = adm.post(f"/console/contacts/{a['id']}/erase", data={"csrf": adm_token, "conferma": "  ada   LOVELACE "})
    assert r.status_code == 303 and r.headers["location"] == f"/console/contacts/{a['id']}?esito=cancellato"
    gone = client.get(f"/api/v1/contacts/{a['id']}", headers=admin_h).json()
    assert gone["anonymised"] is True and gone["first_name"] == "" and gone["phones"] == [] and gone["emails"] == []
    assert gone["fiscal_code"] is None and gone["notes"] == ""
    assert "Ada" not in client.get(f"/api/v1/requests/{ticket['id']}", headers=admin_h).json()["description"]
    after = adm.get(r.headers["location"]).text
    assert "Dati personali cancellati" in after and f"/console/contacts/{a['id']}/edit" not in after
    check_page(after)
    twice = adm.post(f"/console/contacts/{a['id']}/erase", data={"csrf": adm_token, "conferma": "CANCELLA"})
    assert twice.status_code == 409
    assert adm.get(f"/console/contacts/{a['id']}/edit").text.count("cancellati su richiesta") == 1
    # the audit log has each step, by whom
    log = client.get(
        "/api/v1/audit", params={"entity": "contact", "entity_id": a["id"], "limit": 200}, headers=admin_h
    ).json()["items"]
    by_action = {e["action"]: e for e in log}
    assert {"read", "update", "merge", "export", "erase"} <= set(by_action)
    assert by_action["erase"]["actor_id"] == ente_ctx.operator_ids["admin"]
    # the rows stay, their details went with the erasure (they may name the person); the erasure's own line keeps
    # counts only
    assert all(e["details"] == {"erased": True} for e in log if e["id"] < by_action["erase"]["id"])
    assert by_action["erase"]["details"]["screen"] == "erase" and "contacts" in by_action["erase"]["details"]["stores"]
    src = client.get("/api/v1/audit", params={"entity": "contact", "entity_id": b["id"]}, headers=admin_h).json()
    assert any(e["action"] == "merged_into" for e in src["items"])
    assert holder["id"]  # the fiscal code's holder is untouched
    assert client.get(f"/api/v1/contacts/{holder['id']}", headers=admin_h).json()["fiscal_code"] == VALID_CF


def test_office_hours_are_edited_in_the_settings(server, client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    """Office hours drive SLA due times and the assistant's handoff: admins edit them, mistakes are explained and
    nothing half-saved, and the desk status the assistant reads follows at once."""
    c = login(server, ente_ctx, "admin")
    page = c.get("/console/settings")
    assert 'id="d0_a_from" name="d0_a_from" value="08:00"' in page.text
    assert 'id="d4_b_to" name="d4_b_to" value="17:00"' in page.text and 'value="29/06"' in page.text
    token = csrf(page.text)
    week = {f"d{i}_a_from": "09:00" for i in range(5)} | {f"d{i}_a_to": "13:00" for i in range(5)}
    bad = c.post(
        "/console/settings/hours",
        data={
            "csrf": token,
            **week,
            "d1_b_from": "16:00",
            "d1_b_to": "15:00",  # closes before it opens
            "d2_b_from": "12:00",
            "d2_b_to": "14:00",  # overlaps the morning
            "d3_b_from": "15:00",  # no closing time
            "patron": "31/02",
        },
    )
    assert bad.status_code == 422
    for message in (
        "La chiusura deve seguire l'apertura.",
        "Le due fasce dello stesso giorno si sovrappongono.",
        "Indichi sia l'apertura sia la chiusura",
        "Scriva il giorno come GG/MM",
    ):
        assert message in html_unescape(bad.text), message
    assert 'value="16:00"' in bad.text  # what was typed is kept
    check_page(bad.text)
    assert "08:00–12:30, 14:00–17:00" in c.get("/console/settings").text  # nothing saved
    empty = c.post("/console/settings/hours", data={"csrf": token, "patron": ""})
    assert empty.status_code == 422 and "Indichi almeno una fascia" in html_unescape(empty.text)

    ok = c.post(
        "/console/settings/hours",
        data={
            "csrf": token,
            **week,
            "d3_b_from": "15:00",
            "d3_b_to": "18:00",
            "d5_a_from": "09:00",
            "d5_a_to": "12:00",
            "patron": "4/10",
        },
    )
    assert ok.status_code == 303
    page = c.get(ok.headers["location"])
    assert "Orari d'ufficio salvati." in html_unescape(page.text) and "Festa del patrono: 04/10" in page.text
    assert "09:00–13:00, 15:00–18:00" in page.text and "chiuso" in page.text  # Thursday; Sunday
    desk = client.get("/api/v1/desk", headers=ente_ctx.headers("service")).json()
    nxt = datetime.fromisoformat(desk["next_opening"])
    assert (nxt.hour, nxt.minute) in ((9, 0), (15, 0)) and nxt.weekday() < 6
    audit = client.get(
        "/api/v1/audit", params={"entity": "ente", "entity_id": ente_ctx.ente_id}, headers=ente_ctx.headers("admin")
    ).json()["items"]
    assert (
        audit[0]["details"]["patron_day"] == "10-04"
        and "thu 09:00-13:00,15:00-18:00" in audit[0]["details"]["office_hours"]
    )
    other = login(server, ente_ctx, "operator")
    assert (
        other.post(
            "/console/settings/hours", data={"csrf": csrf(other.get("/console/requests").text), **week}
        ).status_code
        == 403
    )
