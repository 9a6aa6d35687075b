"""Parity scenarios of the knowledge base's articles: the API and the console's editor and gap list."""

from __future__ import annotations

from typing import Any

from tests.parity.harness import Harness, Perform, scenario


def article(h: Harness, *, status: str = "draft", edits: int = 0) -> dict[str, Any]:
    from crm.kb import service as kb
    from crm.kb.schemas import ArticleIn, ArticlePatch

    slug = h.unique("scheda")

    async def work(s: Any) -> dict[str, Any]:
        a = await kb.create(
            s,
            ente_id=h.ente.ente_id,
            author="setup",
            data=ArticleIn(
                slug=slug,
                title="Carta d'identità elettronica",
                body="Si richiede all'anagrafe su appuntamento.",
                status=status,
            ),
        )  # type: ignore[arg-type]
        for n in range(edits):
            a = await kb.update_article(
                s,
                ente_id=h.ente.ente_id,
                article_id=a.id,
                author="setup",
                data=ArticlePatch(body=f"Versione {n + 2}: si richiede all'anagrafe."),
            )
        return {"id": a.id, "version": a.version, "slug": slug}

    return h.setup(work)


def gap(h: Harness) -> int:
    from crm.kb import service as kb

    async def work(s: Any) -> int:
        await kb.record_gap(
            s, ente_id=h.ente.ente_id, query=h.unique("dove si paga la tari"), reason="no_match", channel="web"
        )
        return (await kb.open_gaps(s, ente_id=h.ente.ente_id))[0].id

    return h.setup(work)


@scenario("POST", "/api/v1/kb/articles", "admin")
def api_create(h: Harness) -> Perform:
    return h.api(
        "POST",
        "/api/v1/kb/articles",
        "admin",
        json={"slug": h.unique("scheda"), "title": "Passaporto", "body": "In questura."},
    )


@scenario("PATCH", "/api/v1/kb/articles/<article_id:int>", "admin")
def api_update(h: Harness) -> Perform:
    return h.api("PATCH", f"/api/v1/kb/articles/{article(h)['id']}", "admin", json={"body": "Nuovo testo."})


@scenario("POST", "/api/v1/kb/articles/<article_id:int>/publish", "admin")
def api_publish(h: Harness) -> Perform:
    return h.api("POST", f"/api/v1/kb/articles/{article(h)['id']}/publish", "admin")


@scenario("POST", "/api/v1/kb/articles/<article_id:int>/archive", "admin")
def api_archive(h: Harness) -> Perform:
    return h.api("POST", f"/api/v1/kb/articles/{article(h, status='published')['id']}/archive", "admin")


@scenario("POST", "/api/v1/kb/articles/<article_id:int>/restore", "admin")
def api_restore(h: Harness) -> Perform:
    return h.api("POST", f"/api/v1/kb/articles/{article(h, edits=1)['id']}/restore", "admin", json={"version": 1})


@scenario("POST", "/api/v1/kb/feedback", "service")
def api_feedback(h: Harness) -> Perform:
    return h.api(
        "POST",
        "/api/v1/kb/feedback",
        "service",
        json={"slug": article(h, status="published")["slug"], "query": "carta d'identità", "helpful": True},
    )


@scenario("POST", "/api/v1/kb/gaps/resolve", "admin")
def api_resolve_gaps(h: Harness) -> Perform:
    return h.api("POST", "/api/v1/kb/gaps/resolve", "admin", json={"ids": [gap(h)]})


@scenario("POST", "/console/kb/new", "admin")
def console_create(h: Harness) -> Perform:
    return h.console(
        "/console/kb/new",
        "admin",
        {
            "title": "Tessera elettorale",
            "slug": h.unique("scheda"),
            "body": "All'ufficio elettorale.",
            "azione": "salva",
        },
    )


@scenario("POST", "/console/kb/<article_id:int>/edit", "admin")
def console_update(h: Harness) -> Perform:
    a = article(h)
    return h.console(
        f"/console/kb/{a['id']}/edit",
        "admin",
        {"title": "Carta d'identità", "body": "Testo rivisto.", "version": a["version"], "azione": "salva"},
    )


@scenario("POST", "/console/kb/<article_id:int>/publish", "admin")
def console_publish(h: Harness) -> Perform:
    return h.console(f"/console/kb/{article(h)['id']}/publish", "admin")


@scenario("POST", "/console/kb/<article_id:int>/archive", "admin")
def console_archive(h: Harness) -> Perform:
    return h.console(f"/console/kb/{article(h, status='published')['id']}/archive", "admin")


@scenario("POST", "/console/kb/<article_id:int>/restore", "admin")
def console_restore(h: Harness) -> Perform:
    return h.console(f"/console/kb/{article(h, edits=1)['id']}/restore", "admin", {"version": "1"})


@scenario("POST", "/console/kb/gaps/resolve", "admin")
def console_resolve_gaps(h: Harness) -> Perform:
    return h.console("/console/kb/gaps/resolve", "admin", {"ids": str(gap(h))})
