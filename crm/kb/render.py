"""Article bodies are Markdown written by staff; on output they are rendered and sanitised (no script, no handlers)."""

from __future__ import annotations

import functools
import re

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
ALLOWED = {
    "p",
    "br",
    "strong",
    "em",
    "ul",
    "ol",
    "li",
    "a",
    "h2",
    "h3",
    "h4",
    "blockquote",
    "code",
    "pre",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}


def _strip_raw_html(markdown: str) -> str:
    """Raw HTML typed into the Markdown (a pasted <script>, an <img onerror>) is dropped, content and all."""
    return nh3.clean(markdown, tags=set()).replace("&gt;", ">").replace("&amp;", "&")


def sanitise(html: str) -> str:
    """The one allow-list of tags, attributes and link schemes for Markdown rendered to HTML: the console's preview and
    the web chat (channels/render.py) both go through it."""
    return nh3.clean(
        html, tags=ALLOWED, attributes={"a": {"href", "title"}}, url_schemes={"http", "https", "mailto", "tel"}
    )


def strip_raw_html(markdown: str) -> str:
    return _strip_raw_html(markdown)


def body_html(markdown: str) -> str:
    return sanitise(_md.render(_strip_raw_html(markdown)))


def plain_text(markdown: str) -> str:
    """Text without markup or tags, for snippets and the index."""
    text = nh3.clean(_md.render(_strip_raw_html(markdown)), tags=set())
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&#x27;", "'")
    text = re.sub(r"<[^>]*>", " ", text).replace("<", " ").replace(">", " ")  # no tag survives, even as text
    return re.sub(r"\s+", " ", text.replace("&amp;", "&")).strip()


# --- the passage of an article that answers a question, as Markdown ---------------------------------------------------
_LIST_ITEM = re.compile(r"^\s{0,3}(?:[-*+]|\d{1,3}[.)])\s+")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[A-ZÀ-Ü0-9*_\[])")


def _units(markdown: str) -> list[tuple[int, str, str]]:
    """The article's Markdown in the pieces a passage is made of, in order: (block, kind, text), kind being "p" for
    a paragraph's sentence, "li" for a list item (with its marker), "h" for a heading; block numbers the paragraph
    or list a piece belongs to."""
    units: list[tuple[int, str, str]] = []
    block, para = 0, []

    def flush() -> None:
        nonlocal block, para
        if para:
            block += 1
            units.extend((block, "p", s) for s in _SENTENCE_END.split(" ".join(para)) if s.strip())
            para = []

    in_list = False
    for line in strip_raw_html(markdown).splitlines():
        if not line.strip():
            flush()
            in_list = False
            continue
        if _LIST_ITEM.match(line):
            flush()
            if not in_list:
                block += 1
                in_list = True
            units.append((block, "li", line.strip()))
        elif _HEADING.match(line):  # a heading inside a chat answer is bold text on its own line
            flush()
            in_list = False
            block += 1
            units.append((block, "h", f"**{line.strip().lstrip('#').strip()}**"))
        elif in_list and units and line.startswith((" ", "\t")):  # a list item's continuation line
            b, kind, text = units[-1]
            units[-1] = (b, kind, f"{text} {line.strip()}")
        else:
            in_list = False
            para.append(line.strip())
    flush()
    return units


@functools.lru_cache(maxsize=256)
def _pieces(markdown: str) -> tuple[tuple[tuple[int, str, str], ...], tuple[str, ...]]:
    """An article's pieces and their plain text. Kept for the articles last answered with: each piece's plain text is
    a Markdown render and two sanitiser passes, dozens per article, and a search wants three articles' pieces (a
    fifth of the CRM's CPU per search outside the model, py-spy at 20 concurrent conversations, 2026-12-03)."""
    units = _units(markdown)
    return tuple(units), tuple(plain_text(text) for _, _, text in units)


def markdown_passage(markdown: str, parts: list[str]) -> str:
    """The Markdown of the article's pieces that hold ``parts`` (the whole sentences the search chose, as plain
    text): lists stay lists, links and bold stay, no sentence is cut. Empty when they cannot be found (the caller
    then shows the plain passage)."""
    units, plains = _pieces(markdown)
    flat, spans, at = "", [], 0
    for p in plains:  # the article's plain text, as the index has it, with where each piece sits in it
        if flat:
            flat += " "
        spans.append((len(flat), len(flat) + len(p)))
        flat += p
    chosen: set[int] = set()
    for part in parts:
        start = flat.find(part, at)
        if start < 0:
            start = flat.find(part)
        if start < 0:
            return ""
        end, at = start + len(part), start + len(part)
        chosen |= {i for i, (a, b) in enumerate(spans) if a < end and b > start and plains[i]}
    out, prev = "", None
    for i in sorted(chosen):
        block, kind, text = units[i]
        if prev is None:
            out = text
        elif block == units[prev][0]:
            out += ("\n" if kind == "li" else " ") + text
        else:
            out += "\n\n" + text
        prev = i
    return out
