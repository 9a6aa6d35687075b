"""Article bodies are Markdown written by staff; on output they are rendered and sanitised (no script, no handlers)."""

from __future__ import annotations

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
