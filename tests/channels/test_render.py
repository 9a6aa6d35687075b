"""The one renderer of outbound replies (channels/render.py): what each channel receives for the same Markdown. The
Telegram output is read by the fake Bot API's parser (its documented HTML rules), the SMS by segment arithmetic."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from channels import render
from crm.kb.render import ALLOWED, body_html
from tests.channels.fakes import telegram_html_error, telegram_shown

pytestmark = pytest.mark.db_independent  # no database: runs once, in the SQLite pass

ARTICLE = (
    "**Carta d'identità elettronica**\n"
    "Si richiede all'Ufficio anagrafe *su appuntamento*. Costa 22,21 € (più 5,16 € in caso di smarrimento).\n\n"
    "Porti con sé:\n\n- una fototessera recente\n- il documento scaduto\n\n"
    "Approfondisca qui: https://comune.example.it/cie?x=1&y=2"
)
HOSTILE = (
    'Vedi <script>alert(1)</script><img src=x onerror="alert(2)"> a < b && c > d '
    '[clic](javascript:alert(3)) <a href="https://evil.example">x</a> [sito](https://comune.example.it/a_b)'
)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    p = _Tags()
    p.feed(html)
    return p.tags


def test_web_gets_links_lists_and_bold_through_the_consoles_sanitiser() -> None:
    html = render.to_web(ARTICLE)
    found = [t for t, _ in tags(html)]
    assert found.count("li") == 2 and "ul" in found and "strong" in found and "em" in found
    links = [a for t, a in tags(html) if t == "a"]
    assert links == [{"href": "https://comune.example.it/cie?x=1&y=2", "rel": "noopener noreferrer"}]
    assert "Carta d'identità elettronica</strong><br>" in html  # a single line break stays a line break
    # the same allow-list as the console's preview: nothing the preview would drop gets through
    assert {t for t, _ in tags(html)} <= ALLOWED
    assert render.to_web("- a\n- b\n\n**c**") == body_html("- a\n- b\n\n**c**").strip()


def test_web_drops_script_handlers_and_unsafe_links() -> None:
    html = render.to_web(HOSTILE)
    assert "<script" not in html and "onerror" not in html and "javascript:" not in html.replace("(javascript:", "")
    assert not [a for t, a in tags(html) if t == "a" and not str(a.get("href")).startswith("https://comune")]
    assert "a &lt; b &amp;&amp; c &gt; d" in html
    assert [a["href"] for t, a in tags(html) if t == "a"] == ["https://comune.example.it/a_b"]


def test_telegram_html_parse_mode_is_valid_and_escaped() -> None:
    for text in (
        ARTICLE,
        HOSTILE,
        "Salve, sono Giulia dell'URP.",
        "1 < 2 & 3 > 2",
        "`codice <x>` e ```\npre & <y>\n```",
        "# Titolo\n\n| a | b |\n|---|---|\n| 1 < 2 | [x](tel:+39061) |",
        "- a\n  - b\n- c",
    ):
        tg = render.to_telegram(text)
        assert telegram_html_error(tg) is None, (text, tg)
    tg = render.to_telegram(ARTICLE)
    assert '<a href="https://comune.example.it/cie?x=1&amp;y=2">' in tg
    assert "<b>Carta d'identità elettronica</b>\nSi richiede" in tg and "<i>su appuntamento</i>" in tg
    assert "\n• una fototessera recente\n• il documento scaduto\n" in tg
    shown = telegram_shown(render.to_telegram(HOSTILE), "HTML")
    assert "a < b && c > d" in shown and "alert(1)" not in shown
    assert "javascript" not in render.to_telegram(HOSTILE).split("[clic]")[0]
    assert render.to_telegram("1. uno\n2. due") == "1. uno\n2. due"
    assert render.to_telegram("Chiami il [numero](tel:+390761123456)") == "Chiami il numero (+390761123456)"


def test_the_fake_bot_api_refuses_what_telegram_refuses() -> None:
    # the renderer's tests are only as good as this parser: it must say no where Telegram does
    for bad in ("a < b", "<p>x</p>", "<b>x", "<b>x</i>", "a & b", "<a>x</a>"):
        assert telegram_html_error(bad), bad
    assert telegram_html_error('<b>x</b> &lt;&amp;&gt; <a href="https://a.it">y</a>') is None


def test_sms_is_plain_gsm_text_within_two_segments_with_the_link() -> None:
    long = (
        "**TARI, la tassa sui rifiuti**\n"
        "La TARI si paga in due rate, a maggio e a novembre, con l’avviso pagoPA inviato dal Comune. "
        "È possibile pagare anche in un’unica soluzione entro il 16 giugno. Chi ha diritto alle riduzioni "
        "(famiglie numerose, ISEE basso, compostaggio domestico) deve presentare la domanda entro il 31 gennaio. "
        "L’ufficio tributi riceve su appuntamento il martedì e il giovedì mattina.\n\n- uno\n- due\n\n"
        "Approfondisca qui: https://comune.example.it/tari"
    )
    sms = render.to_sms(long)
    assert render.sms_segments(sms) <= 2
    assert sms.endswith("\nApprofondisca qui: https://comune.example.it/tari")
    assert sms.startswith("TARI, la tassa sui rifiuti\nLa TARI si paga in due rate")
    assert "**" not in sms and "’" not in sms and "E' possibile" in sms
    # whole sentences only: every sentence kept is one of the article's, ending where it ended
    body = sms.rsplit("\n", 1)[0]
    assert body.endswith(".") and "…" not in body
    short = render.to_sms(ARTICLE)
    assert render.sms_segments(short) <= 2 and "- una fototessera recente\n- il documento scaduto" in short
    assert "https://comune.example.it/cie?x=1&y=2" in short and "<" not in short
    # a list of slots to choose from has no link: it is never shortened (the adapter sends it in parts)
    slots = "Ecco le prime date libere:\n" + "\n".join(
        f"{i}. lunedì {i} dicembre alle 10:00, sportello anagrafe" for i in range(1, 12)
    )
    assert render.to_sms(slots).count("dicembre") == 11


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),
        ("€" * 81, 2),
        ("è" * 160, 1),
        ("ő" * 70, 1),
        ("ő" * 71, 2),
        ("ő" * 134, 2),
        ("ő" * 135, 3),
    ],
)
def test_sms_segments(text: str, segments: int) -> None:
    assert render.sms_segments(text) == segments


def test_render_by_channel() -> None:
    assert render.render("web", "**x**") == "<p><strong>x</strong></p>"
    assert render.render("telegram", "**x**") == "<b>x</b>"
    assert render.render("sms", "**x**") == "x"
