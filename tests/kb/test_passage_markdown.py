"""The passage an answer shows is the article's own Markdown (lists stay lists, links and bold stay), made of whole
sentences: the search picks them as plain text, the API gives back the Markdown that holds them."""

from __future__ import annotations

import httpx

from crm.kb.render import markdown_passage, plain_text
from knowledge.index import sentences

BODY = """## Documenti

Per la carta d'identità servono:
- una **fototessera** recente su sfondo chiaro;
- il codice fiscale.

Il costo è di 22,21 euro. Si paga con [pagoPA](https://www.pagopa.gov.it) allo sportello. La carta vale 10 anni."""


def test_the_markdown_that_holds_the_chosen_sentences() -> None:
    plain = sentences(plain_text(BODY))
    by_word = {word: next(s for s in plain if word in s) for word in ("fototessera", "22,21", "pagoPA", "10 anni")}
    # a list stays a list, with its heading (bold in a chat) and its lead-in line
    assert markdown_passage(BODY, [by_word["fototessera"]]) == (
        "**Documenti**\n\nPer la carta d'identità servono:\n\n"
        "- una **fototessera** recente su sfondo chiaro;\n- il codice fiscale."
    )
    link = "Si paga con [pagoPA](https://www.pagopa.gov.it) allo sportello."
    assert markdown_passage(BODY, [by_word["pagoPA"]]) == link
    # two sentences of one paragraph stay one paragraph; apart, they are two
    assert markdown_passage(BODY, [by_word["22,21"], by_word["pagoPA"]]) == (
        "Il costo è di 22,21 euro. Si paga con [pagoPA](https://www.pagopa.gov.it) allo sportello."
    )
    assert markdown_passage(BODY, [by_word["fototessera"], by_word["10 anni"]]).endswith(
        "- il codice fiscale.\n\nLa carta vale 10 anni."
    )
    # a sentence the article does not hold: nothing (the caller shows the plain passage)
    assert markdown_passage(BODY, ["Una frase che non c'è."]) == ""
    # raw HTML typed into the article never reaches a passage
    assert "<script" not in markdown_passage("Il costo è 5 euro.<script>x()</script>", ["Il costo è 5 euro."])


def test_the_search_api_gives_the_passage_as_markdown(client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    h = ente_ctx.headers("admin")
    article = {
        "slug": "carta-md-test",
        "title": "Carta d'identità elettronica (prova Markdown)",
        "body": BODY,
        "topic": "anagrafe",
        "status": "published",
        "url": "https://www.comune.example.it/cie",
    }
    assert client.post("/api/v1/kb/articles", json=article, headers=h).status_code == 201
    res = client.get(
        "/api/v1/kb/search",
        params={"q": "quali documenti servono per la carta d'identità?"},
        headers=ente_ctx.headers("service"),
    ).json()
    top = res["results"][0]
    assert top["slug"] == "carta-md-test"
    assert "- una **fototessera** recente su sfondo chiaro;\n- il codice fiscale." in top["passage"], top["passage"]
    res = client.get(
        "/api/v1/kb/search", params={"q": "come si paga la carta d'identità?"}, headers=ente_ctx.headers("service")
    ).json()
    assert "[pagoPA](https://www.pagopa.gov.it)" in res["results"][0]["passage"], res["results"][0]["passage"]


def test_the_answer_with_a_markdown_passage_on_every_channel() -> None:
    """The domain's answer (bold title, the passage's Markdown, the link) as each channel shows it: the list stays a
    list, the link is a link on web and Telegram and whole in an SMS, no sentence is cut."""
    import yaml

    from channels.render import render
    from tests.conftest import ROOT

    domain = yaml.safe_load((ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))
    template = domain["responses"]["utter_kb_answer"][0]["text"]
    plain = sentences(plain_text(BODY))
    passage = markdown_passage(BODY, [next(s for s in plain if "fototessera" in s)])
    text = template.format(title="Carta d'identità elettronica", passage=passage, url="https://comune.example.it/cie")
    web = render("web", text)
    assert "<strong>Carta d'identità elettronica</strong>" in web and "<li>una <strong>fototessera</strong>" in web
    assert '<a href="https://comune.example.it/cie"' in web
    telegram = render("telegram", text)
    assert "<b>Carta d'identità elettronica</b>" in telegram and "una <b>fototessera</b> recente" in telegram
    assert "il codice fiscale." in telegram and '<a href="https://comune.example.it/cie">' in telegram
    sms = render("sms", text)
    assert sms.endswith("https://comune.example.it/cie") and "*" not in sms and "<" not in sms
    assert "codice fiscale." in sms or "fototessera" not in sms  # whole sentences only, never a cut one


def test_an_article_s_pieces_are_rendered_once_for_every_passage_taken_from_it(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Three articles a search, each piece's plain text a Markdown render: the pieces of an article answered with
    before are not rendered again, and the passages stay the same."""
    from crm.kb import render

    render._pieces.cache_clear()
    first = [markdown_passage(BODY, [s]) for s in sentences(plain_text(BODY))]
    calls: list[str] = []
    real = render.plain_text
    monkeypatch.setattr(render, "plain_text", lambda text: calls.append(text) or real(text))
    again = [markdown_passage(BODY, [s]) for s in sentences(plain_text(BODY))]
    assert again == first and all(first)
    assert calls == []  # nothing of the article rendered a second time
    render._pieces.cache_clear()
    assert [markdown_passage(BODY, [s]) for s in sentences(plain_text(BODY))] == first
    assert len(calls) >= 5  # a fresh article's pieces are rendered (and the spy does see them)
