"""One renderer for every reply that leaves: the bot's and the operators' text is Markdown (an article's passage with
its links, lists and bold; a reply typed in the console), and each channel gets it in the one form it shows safely.

- web chat: HTML through the console's sanitiser (``crm.kb.render.sanitise``): clickable links, lists, bold; the
  widget builds it into the page through its own allow-list, never as raw HTML;
- Telegram: the Bot API's HTML parse mode, which knows only b/i/u/s/a/code/pre/blockquote: paragraphs and lists
  become lines, every ``<``, ``>`` and ``&`` of the text is escaped;
- SMS: plain text in the GSM alphabet, within two segments when the text has a link to the whole (an article's
  answer): whole sentences are left out from the end, never cut, and the link is kept.

Everything starts from the same sanitised HTML, so no channel can show what the web chat would not.
"""

from __future__ import annotations

import html as htmllib
import math
import re
from html.parser import HTMLParser

from markdown_it import MarkdownIt

from crm.kb.render import sanitise, strip_raw_html

# chat text: a single line break is a line break (the bot's "title\npassage\nlink"), tables as in articles
_md = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable("table")
# a bare address in the text becomes a link; one already in a Markdown link or an <autolink> is left alone
_BARE_URL = re.compile(r"(?<![<(\[\w/=\"'])(https?://[^\s<>()\[\]]*[^\s<>()\[\].,;:!?'\"»])")


def _html(text: str) -> str:
    return sanitise(_md.render(_BARE_URL.sub(r"<\1>", strip_raw_html(text))))


def to_web(text: str) -> str:
    """Sanitised HTML for the web chat."""
    return _html(text).strip()


def to_telegram(text: str) -> str:
    """Text for Telegram's ``parse_mode=HTML``."""
    return _Flatten(telegram=True).run(_html(text))


def to_plain(text: str) -> str:
    """Plain text (lists as lines, a link as its text and address), with no length limit."""
    return _Flatten(telegram=False).run(_html(text))


def to_sms(text: str, *, segments: int = 2) -> str:
    """Plain text in the GSM alphabet; with a link, at most ``segments`` SMS segments (whole sentences dropped from
    the end, the link kept). A text without a link (a list of slots, a summary to confirm) is never shortened: the
    adapter sends it in parts."""
    plain = gsm(to_plain(text))
    if sms_segments(plain) <= segments:
        return plain
    lines = plain.split("\n")
    tail_at = max((i for i, line in enumerate(lines) if _URL_IN_TEXT.search(line)), default=None)
    if tail_at is None:
        return plain
    tail = lines[tail_at]
    units = _sentences("\n".join(lines[:tail_at] + lines[tail_at + 1 :]))
    while units and sms_segments(_join(units, tail)) > segments:
        units.pop()
    return _join(units, tail)


def render(channel: str, text: str) -> str:
    """The text as ``channel`` shows it (web: HTML; telegram: HTML parse mode; sms: plain text)."""
    if channel == "web":
        return to_web(text)
    if channel == "telegram":
        return to_telegram(text)
    if channel == "sms":
        return to_sms(text)
    return to_plain(text)


# --- SMS: the GSM alphabet and segments -------------------------------------------------------------------------------
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = "^{}\\[~]|€\f"  # two characters each
# what Italian text uses outside the GSM alphabet, in its nearest GSM form: one such character would make the whole
# message UCS-2, where two segments hold 134 characters instead of 306
_TO_GSM = str.maketrans(
    {
        "’": "'",
        "‘": "'",
        "‛": "'",
        "´": "'",
        "`": "'",
        "“": '"',
        "”": '"',
        "„": '"',
        "«": '"',
        "»": '"',
        "–": "-",
        "—": "-",
        "−": "-",
        "•": "-",
        "·": "-",
        "\u00a0": " ",
        "\u202f": " ",
        "\u2009": " ",
        "\t": " ",
        "…": "...",
        "È": "E'",
        "À": "A'",
        "Ì": "I'",
        "Ò": "O'",
        "Ù": "U'",
        "á": "a'",
        "í": "i'",
        "ó": "o'",
        "ú": "u'",
        "ç": "c",
        "Á": "A'",
        "Í": "I'",
        "Ó": "O'",
        "Ú": "U'",
        "ê": "e",
        "ô": "o",
        "î": "i",
        "â": "a",
        "û": "u",
        "ë": "e",
        "ï": "i",
    }
)
_URL_IN_TEXT = re.compile(r"https?://\S+")


def gsm(text: str) -> str:
    return text.translate(_TO_GSM)


def sms_segments(text: str) -> int:
    """How many SMS segments ``text`` takes: GSM-7 (160, or 153 per part) or, with any other character, UCS-2 (70,
    or 67 per part)."""
    if all(c in GSM_BASIC or c in GSM_EXTENDED for c in text):
        units, single, part = sum(2 if c in GSM_EXTENDED else 1 for c in text), 160, 153
    else:
        units, single, part = len(text.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else math.ceil(units / part)


_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+(?=\S)")


def _sentences(text: str) -> list[str]:
    """Lines, then sentences within a line: the units an SMS is shortened by. Each keeps the break before it."""
    units: list[str] = []
    for i, line in enumerate(text.split("\n")):
        for j, sentence in enumerate(_SENTENCE_END.split(line)):
            if sentence.strip():
                units.append(("\n" if i and not j and units else " " if j else "") + sentence.strip())
    return units


def _join(units: list[str], tail: str) -> str:
    body = "".join(units).strip()
    return f"{body}\n{tail}" if body else tail


# --- sanitised HTML -> Telegram HTML or plain text --------------------------------------------------------------------
_TG_TAG = {"strong": "b", "b": "b", "em": "i", "i": "i", "code": "code", "pre": "pre", "blockquote": "blockquote"}
_BLOCK = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol"}
_HEADING = {"h1", "h2", "h3", "h4", "h5", "h6"}


class _Flatten(HTMLParser):
    """Walk the sanitised HTML once: blocks become lines, list items bullets or numbers, table rows lines; Telegram
    keeps the inline tags its parse mode knows, plain text keeps the words."""

    def __init__(self, *, telegram: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.telegram = telegram
        self.out: list[str] = []
        self.breaks = 0  # newlines owed before the next text
        self.lists: list[list[int]] = []  # per open list: [kind (0 bullet, 1 numbered), next number]
        self.links: list[tuple[str, int]] = []  # per open <a>: its href and where its text starts in out
        self.pre = 0
        self.fresh_item = False  # just after a bullet: a paragraph inside the item starts on its line
        self.cells = 0

    def run(self, html: str) -> str:
        self.feed(html)
        self.close()
        text = "".join(self.out)
        text = re.sub(r"[ ]+\n", "\n", text)
        return re.sub(r"\n{3,}", "\n\n", text).strip()

    # helpers
    def _owe(self, n: int) -> None:
        self.breaks = max(self.breaks, n)

    def _emit(self, s: str) -> None:
        if self.breaks and self.out:
            self.out.append("\n" * self.breaks)
        self.breaks = 0
        self.fresh_item = False
        self.out.append(s)

    def _para(self) -> int:
        return 1 if self.lists or not self.telegram else 2

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK and not (tag == "p" and self.fresh_item):
            self._owe(1 if tag in ("ul", "ol") and self.lists else self._para())
        if tag == "br":
            self._owe(1)
            if self.breaks and not self.out:
                self.breaks = 0
        elif tag in ("ul", "ol"):
            self.lists.append([1 if tag == "ol" else 0, 1])
        elif tag == "li":
            self._owe(1)
            depth = max(len(self.lists) - 1, 0)
            kind = self.lists[-1] if self.lists else [0, 1]
            mark = f"{kind[1]}." if kind[0] else ("•" if self.telegram else "-")
            kind[1] += 1
            self._emit("  " * depth + mark + " ")
            self.fresh_item = True
        elif tag == "tr":
            self._owe(1)
            self.cells = 0
        elif tag in ("td", "th"):
            if self.cells:
                self.out[-1] = self.out[-1].rstrip()
                self._emit(" | ")
            self.cells += 1
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self.links.append((href, len(self.out)))
            if self.telegram and href.startswith(("http://", "https://")):
                self._emit(f'<a href="{htmllib.escape(href, quote=True)}">')
        elif tag == "pre":
            self.pre += 1
            if self.telegram:
                self._emit("<pre>")
        elif tag in _HEADING and self.telegram:
            self._emit("<b>")
        elif self.telegram and tag in _TG_TAG and not (tag == "code" and self.pre):
            self._emit(f"<{_TG_TAG[tag]}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.links:
            href, start = self.links.pop()
            shown = "".join(self.out[start:])
            shown = re.sub(r"<[^>]*>", "", shown) if self.telegram else shown
            if self.telegram and href.startswith(("http://", "https://")):
                self.out.append("</a>")
            elif href:
                address = href.split(":", 1)[1] if href.startswith(("mailto:", "tel:")) else href
                if htmllib.unescape(shown).strip() != address:
                    self._emit(f" ({htmllib.escape(address, quote=False) if self.telegram else address})")
        elif tag == "pre":
            self.pre = max(self.pre - 1, 0)
            if self.telegram:
                self.out.append("</pre>")
        elif tag in _HEADING and self.telegram:
            self.out.append("</b>")
        elif self.telegram and tag in _TG_TAG and not (tag == "code" and self.pre):
            self.out.append(f"</{_TG_TAG[tag]}>")
        if tag in ("ul", "ol") and self.lists:
            self.lists.pop()
            self._owe(self._para() if not self.lists else 1)
        elif tag == "li":
            self._owe(1)
        elif tag in _BLOCK:
            self._owe(self._para())

    def handle_data(self, data: str) -> None:
        if not self.pre:
            data = re.sub(r"\s+", " ", data)
            if not data.strip():  # between two tags: a space inside a line, nothing between blocks
                if self.out and not self.breaks and not self.fresh_item and not self.out[-1].endswith((" ", "\n")):
                    self.out.append(" ")
                return
            if self.breaks or not self.out or self.fresh_item or self.out[-1].endswith("\n"):
                data = data.lstrip()
        self._emit(htmllib.escape(data, quote=False) if self.telegram else data)
