"""The phone desk attaches the caller's files to the request it logs (issue 15 item 6): "Chiamata in arrivo" → the
request form takes photos (JPEG, PNG, WebP) and PDFs, checked like an istanza's attachments (magic number, size,
nothing executable; one refused file registers nothing), stored on the request through its command (audit line with
the types, never the names), shown on the request's page (thumbnails, downloads; each read audited), gone with the
contact's erasure. And in Chromium: the form and the request page at the three sizes, axe clean."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.browser import SCREENS, axe, browser, require_axe  # noqa: F401  (browser: the module fixture)
from tests.conftest import Server
from tests.console.test_console import csrf, login
from tests.console.test_workspace_browser import SHOTS, SIZES, _login, desk, pages  # noqa: F401  (fixtures)

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
EXE = b"MZ\x90\x00" + b"\x00" * 200


def _png(color: str = "#0066cc") -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (160, 100), color).save(out, "PNG")
    return out.getvalue()


def _caller(base: str, ente: Any, last: str) -> int:
    r = httpx.post(
        base + "/api/v1/contacts",
        json={"first_name": "Carla", "last_name": last, "phones": ["+393471112233"]},
        headers=ente.headers("operator"),
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _requests_of(client: httpx.Client, ente: Any, cid: int) -> list[dict[str, Any]]:
    r = client.get("/api/v1/requests", params={"contact_id": cid}, headers=ente.headers("admin"))
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def test_phone_desk_attaches_files_to_the_request(server: Server, client: httpx.Client, ente_ctx: Any) -> None:
    cid = _caller(server.url, ente_ctx, "Neri")
    c = login(server, ente_ctx, "phone_operator")
    form = c.get(f"/console/intake/{cid}").text
    assert 'enctype="multipart/form-data"' in form and 'name="files" multiple' in form
    assert 'accept="image/jpeg,image/png,image/webp,application/pdf"' in form
    token = csrf(form)
    fields = {"csrf": token, "kind": "report", "priority": "media", "subject": "Lampione spento"}
    # an executable named as a PDF: refused by its first bytes, in Italian next to the field; nothing registered
    bad = c.post(
        f"/console/intake/{cid}/request",
        data=fields,
        files=[("files", ("foto.png", _png(), "image/png")), ("files", ("modulo.pdf", EXE, "application/pdf"))],
    )
    assert bad.status_code == 422 and 'id="rq-files-err"' in bad.text, bad.text[-2000:]
    assert "Il file «modulo.pdf» non è ammesso" in bad.text and 'value="Lampione spento"' in bad.text
    assert _requests_of(client, ente_ctx, cid) == []
    # a photo and a PDF: the request and its files in one go
    png = _png()
    made = c.post(
        f"/console/intake/{cid}/request",
        data=fields,
        files=[("files", ("via roma.png", png, "image/png")), ("files", ("modulo.pdf", PDF, "application/pdf"))],
    )
    assert made.status_code == 303, made.text[-2000:]
    tid = int(re.fullmatch(rf"/console/intake/{cid}/done/request/(\d+)", made.headers["location"]).group(1))
    # no file: the form works as before
    plain = c.post(f"/console/intake/{cid}/request", data={**fields, "subject": "Solo parole"})
    assert plain.status_code == 303
    plain_id = int(plain.headers["location"].rsplit("/", 1)[1])
    # the request's page shows them: the photo as a thumbnail, the PDF as a download
    page = c.get(f"/console/requests/{tid}").text
    assert "File allegati" in page
    thumb = re.search(
        r'<img class="rq-thumb" src="(/console/requests/\d+/files/\d+)" alt="Foto allegata: via roma.png"', page
    )
    doc = re.search(r'<a href="(/console/requests/\d+/files/\d+)" download>modulo.pdf \(', page)
    assert thumb and doc, page[-3000:]
    img = c.get(thumb.group(1))
    assert img.status_code == 200 and img.content == png and img.headers["content-type"] == "image/png"
    assert (
        img.headers["content-disposition"].startswith("inline;") and img.headers["x-content-type-options"] == "nosniff"
    )
    pdf = c.get(doc.group(1))
    assert pdf.content == PDF and pdf.headers["content-disposition"].startswith("attachment;")
    # the audit: one upload line with the types (never the names), a read line per file opened
    audit = client.get(
        "/api/v1/audit", params={"entity": "request", "entity_id": tid}, headers=ente_ctx.headers("admin")
    ).json()["items"]
    [up] = [a for a in audit if a["action"] == "upload"]
    assert up["details"]["types"] == ["image/png", "application/pdf"] and "via roma" not in str(up)
    assert up["actor_id"] == ente_ctx.operator_ids["phone_operator"]
    assert sum(1 for a in audit if a["action"] == "read_file") == 2
    # a file is served only under its own request
    assert c.get(thumb.group(1).replace(f"/requests/{tid}/", f"/requests/{plain_id}/")).status_code == 404
    # erasure: the files go with the contact's data
    stored = list(Path(server.env["URP_VAR_DIR"], "attachments", "requests").rglob("*"))
    assert sum(1 for p in stored if p.is_file() and p.read_bytes() in (png, PDF)) >= 2
    assert client.post(f"/api/v1/contacts/{cid}/erase", headers=ente_ctx.headers("admin")).status_code == 200
    assert c.get(thumb.group(1)).status_code == 404
    assert "via roma" not in c.get(f"/console/requests/{tid}").text


def test_request_files_in_the_browser(desk: tuple[Server, Any], pages: Callable[..., Any], tmp_path: Path) -> None:
    from playwright.sync_api import expect

    require_axe()
    server, ente = desk
    cid = _caller(server.url, ente, "Azzurri")
    photo, doc = tmp_path / "buca via roma.png", tmp_path / "denuncia.pdf"
    photo.write_bytes(_png("#a66300"))
    doc.write_bytes(PDF)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = pages(bypass_csp=True)  # axe is injected as a script
    _login(page, ente.usernames["phone_operator"])
    page.goto(f"/console/intake/{cid}")
    page.get_by_label("Tipo").select_option("report")
    page.get_by_label("Oggetto").fill("Buca in via Roma")
    page.get_by_label("Allegati").set_input_files([str(photo), str(doc)])
    for name, size in SIZES.items():
        page.set_viewport_size(size)
        page.get_by_label("Allegati").scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"intake-request-files-{name}.png"))
    page.set_viewport_size(SIZES["desktop"])
    result = axe(page)
    assert not result["violations"], result["violations"]
    page.get_by_role("button", name="Registra la richiesta").click()
    expect(page).to_have_url(re.compile(rf"/console/intake/{cid}/done/request/\d+"))
    tid = int(page.url.rsplit("/", 1)[1])
    page.goto(f"/console/requests/{tid}")
    thumb = page.get_by_role("img", name="Foto allegata: buca via roma.png")
    expect(thumb).to_be_visible()
    # really drawn: decode() waits for the image to load (it was read before it had, 0 on a loaded machine)
    assert thumb.evaluate("i => i.decode().then(() => i.naturalWidth)") == 160
    expect(page.get_by_role("link", name=re.compile(r"^denuncia\.pdf \("))).to_be_visible()
    for name, size in SIZES.items():
        page.set_viewport_size(size)
        page.get_by_role("heading", name="File allegati").scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"request-files-{name}.png"))
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), name
    page.set_viewport_size(SIZES["desktop"])
    result = axe(page)
    assert not result["violations"], result["violations"]
    # a photo the citizen sends later, attached from the request's page
    later = tmp_path / "seconda foto.png"
    later.write_bytes(_png("#2e7d32"))
    page.get_by_label("Allega altri file").set_input_files([str(later)])
    for name, size in SIZES.items():
        page.set_viewport_size(size)
        page.get_by_label("Allega altri file").scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"request-files-later-{name}.png"))
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), name
    page.set_viewport_size(SIZES["desktop"])
    page.get_by_role("button", name="Allega i file").click()
    expect(page.get_by_text("File allegati alla richiesta.")).to_be_visible()
    expect(page.get_by_role("img", name="Foto allegata: seconda foto.png")).to_be_visible()
    result = axe(page)
    assert not result["violations"], result["violations"]


def test_files_attached_later_from_the_request_page(server: Server, client: httpx.Client, ente_ctx: Any) -> None:
    """The phone desk or an URP operator attaches the citizen's later photo or document from the request's page:
    the intake's checks and command (audit line with the types, a history line), a refused file attaches nothing."""
    cid = _caller(server.url, ente_ctx, "Bruni")
    made = client.post(
        "/api/v1/requests",
        headers=ente_ctx.headers("operator"),
        json={"contact_id": cid, "kind": "report", "subject": "Marciapiede rotto"},
    )
    assert made.status_code == 201, made.text
    tid = made.json()["id"]
    for role in ("phone_operator", "operator"):
        c = login(server, ente_ctx, role)
        page = c.get(f"/console/requests/{tid}").text
        assert f'action="/console/requests/{tid}/files" enctype="multipart/form-data"' in page, role
        token = csrf(page)
        # an executable named as a photo: refused in Italian next to the field, nothing attached
        bad = c.post(
            f"/console/requests/{tid}/files",
            data={"csrf": token},
            files=[("files", ("ok.png", _png(), "image/png")), ("files", ("foto.jpg", EXE, "image/jpeg"))],
        )
        assert bad.status_code == 422 and 'id="rq-files-err"' in bad.text
        assert "Il file «foto.jpg» non è ammesso" in bad.text and "Nessun file è stato allegato." in bad.text
        empty = c.post(f"/console/requests/{tid}/files", data={"csrf": token})
        assert empty.status_code == 422 and "Scelga almeno un file da allegare." in empty.text
        # without the form's token: refused
        assert c.post(f"/console/requests/{tid}/files", files=[("files", ("a.pdf", PDF, "x"))]).status_code in (
            400,
            403,
        )
        ok = c.post(
            f"/console/requests/{tid}/files",
            data={"csrf": token},
            files=[("files", (f"dopo-{role}.pdf", PDF, "application/pdf"))],
        )
        assert ok.status_code == 303 and ok.headers["location"] == f"/console/requests/{tid}?esito=files"
        shown = c.get(ok.headers["location"]).text
        assert "File allegati alla richiesta." in shown and f"dopo-{role}.pdf (" in shown
    # one upload line per attach (types, never names), one history line per file
    admin = ente_ctx.headers("admin")
    audit = client.get("/api/v1/audit", params={"entity": "request", "entity_id": tid}, headers=admin).json()
    ups = [a for a in audit["items"] if a["action"] == "upload"]
    assert len(ups) == 2 and all(u["details"]["types"] == ["application/pdf"] for u in ups)
    assert {u["actor_id"] for u in ups} == {ente_ctx.operator_ids[r] for r in ("phone_operator", "operator")}
    assert "dopo-" not in str(ups)
    history = login(server, ente_ctx, "operator").get(f"/console/requests/{tid}").text
    assert history.count("File allegato dall&#39;operatore") + history.count("File allegato dall'operatore") == 2
    # an unknown request (or another ente's): 404
    other = login(server, ente_ctx, "operator")
    token = csrf(other.get(f"/console/requests/{tid}").text)
    assert (
        other.post(
            "/console/requests/999999/files", data={"csrf": token}, files=[("files", ("a.pdf", PDF, "x"))]
        ).status_code
        == 404
    )


def test_no_files_for_a_request_past_its_retention(
    server: Server, client: httpx.Client, ente_ctx: Any, db: Any
) -> None:
    """A request concluded more than ``URP_RETENTION_CLOSED_DAYS`` (730) ago takes no new files: the next retention
    pass would delete them. Its page offers no form and says why in Italian (a stale form's post is refused the
    same way); one concluded lately still takes them."""
    from datetime import timedelta

    from sqlalchemy import func, select, update

    from crm.db import utcnow
    from crm.tickets.models import Ticket, TicketFile

    cid = _caller(server.url, ente_ctx, "Conservati")
    made = client.post(
        "/api/v1/requests",
        headers=ente_ctx.headers("operator"),
        json={"contact_id": cid, "kind": "report", "subject": "Panchina rotta"},
    )
    assert made.status_code == 201, made.text
    tid = made.json()["id"]

    async def close(s: Any, days: int) -> None:
        when = utcnow() - timedelta(days=days)
        await s.execute(update(Ticket).where(Ticket.id == tid).values(status="closed", closed_at=when))

    async def count(s: Any) -> int:
        return int(await s.scalar(select(func.count()).where(TicketFile.ticket_id == tid)) or 0)

    db.run(lambda s: close(s, 800))
    c = login(server, ente_ctx, "operator")
    page = c.get(f"/console/requests/{tid}").text
    token = csrf(page)
    # the form is not offered: the page says why, in Italian
    assert f'action="/console/requests/{tid}/files"' not in page and "Allega altri file" not in page
    assert (
        "Non si possono allegare altri file: la richiesta è conclusa da oltre 730 giorni e ha superato i tempi di "
        "conservazione." in page
    ), page[-3000:]
    late = c.post(
        f"/console/requests/{tid}/files",
        data={"csrf": token},
        files=[("files", ("tardi.pdf", PDF, "application/pdf"))],
    )
    assert late.status_code == 422 and 'id="rq-files-closed" role="alert"' in late.text, late.text[-2000:]
    assert "la richiesta è conclusa da oltre 730 giorni e ha superato i tempi di conservazione" in late.text
    assert db.run(count) == 0
    if SCREENS:  # the refusal next to the field, at the three sizes
        from playwright.sync_api import sync_playwright

        from tests.browser import CHROMIUM, CHROMIUM_ARGS, new_page, shoot

        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            try:
                page = new_page(b, base_url=server.url)
                host = httpx.URL(server.url).host
                page.context.add_cookies(
                    [{"name": k.name, "value": k.value or "", "domain": host, "path": k.path} for k in c.cookies.jar]
                )
                page.goto(f"/console/requests/{tid}")
                page.locator("#rq-files-closed").scroll_into_view_if_needed()
                shoot(page, "console-request-files-past-retention")
            finally:
                b.close()
    db.run(lambda s: close(s, 10))
    ok = c.post(
        f"/console/requests/{tid}/files",
        data={"csrf": token},
        files=[("files", ("in-tempo.pdf", PDF, "application/pdf"))],
    )
    assert ok.status_code == 303 and db.run(count) == 1
