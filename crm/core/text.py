"""Text that may reach the database from outside: what PostgreSQL cannot store, and what no person typed; and the
one slugify.

PostgreSQL refuses NUL in text and lone UTF-16 surrogates in UTF-8 (a 500 before these checks); other C0 control
characters are never meant by a person and break renderers and exports. Channel edges (SMS, Telegram, web chat)
*strip* them, so a citizen's message is never lost for a stray byte; the JSON API *refuses* them (422 naming the
field), so a client learns about its bug.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# C0 controls except tab, line feed and carriage return; DEL; lone surrogates
_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
MAX_ID = 2**31 - 1  # ids are 32-bit integers in both databases


def clean_text(value: str) -> str:
    """``value`` without the characters no database or person wants (for the channels' inbound texts)."""
    return _BAD.sub("", value)


def has_bad_chars(value: str) -> bool:
    return _BAD.search(value) is not None


def is_id_name(name: str) -> bool:
    return name == "id" or name.endswith(("_id", "_ids"))


def bad_json_fields(data: Any, path: str = "") -> dict[str, str]:
    """Fields of a parsed JSON body that cannot be stored: strings (or keys) with forbidden characters, ids outside
    the 32-bit range, integers beyond what JSON carries exactly. Empty when the body is fine."""
    out: dict[str, str] = {}

    def walk(value: Any, where: str, id_like: bool) -> None:
        if isinstance(value, str):
            if has_bad_chars(value):
                out.setdefault(where or "body", "contains control characters")
        elif isinstance(value, bool):
            return
        elif isinstance(value, int):
            if id_like and not 0 <= value <= MAX_ID:
                out.setdefault(where or "body", "id out of range")
            elif abs(value) > 2**53:
                out.setdefault(where or "body", "integer out of range")
        elif isinstance(value, dict):
            for k, v in value.items():
                key = str(k)
                if has_bad_chars(key):
                    out.setdefault(f"{where}.{key}".strip(".") if where else "body", "contains control characters")
                    continue
                walk(v, f"{where}.{key}" if where else key, is_id_name(key))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{where}.{i}" if where else str(i), id_like)

    walk(data, path, False)
    return out


def slugify(text: str, max_length: int = 80) -> str:
    """``"Carta d'identità"`` -> ``"carta-d-identita"``: lowercase ASCII letters, digits and dashes (what slugs of
    services, articles and instance types accept)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:max_length].strip("-")
