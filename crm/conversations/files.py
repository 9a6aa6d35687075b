"""Files in a conversation: what a citizen sends on web chat, Telegram or MMS, and what an operator sends back.

The rules are the istanze's (``crm.instances.service.file_problem``: PDF, JPEG, PNG or WebP only, recognised by their
magic number in ``crm.core.filetypes`` whatever the sender declared, nothing executable, at most
``URP_ATTACHMENTS_MAX_BYTES``) and so is the store (``FileStore`` under ``<var>/attachments``). A message keeps the
description of its files in ``Message.attachments``:

    {"name", "content_type", "size", "sha256", "key"}          a stored file (``key`` under the store's root)
    {"name", "refused": "too large" | "type not allowed" | "empty" | "download failed"}   a file not kept

The file's key is derived from the channel's message id (a retried webhook writes the same file once) or is random
(an operator's upload); erasure and retention delete the files of the messages they anonymise (``keys_of``)."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from crm.core import filetypes
from crm.core.filetypes import sniff  # the type the content is, by its magic number
from crm.instances.service import ALLOWED_TYPES, FileStore, file_problem

MAX_FILES = 5  # per message: an MMS carries up to 10, a web upload one
IMAGE_TYPES = filetypes.IMAGES  # shown in the thread (JPEG, PNG, WebP)
# what the citizen reads when a file is not kept (the message's words are kept either way)
REFUSED = {
    "too large": "Il file «{name}» è troppo grande: il limite è {limit}. Può inviarne una versione più leggera.",
    "type not allowed": "Il file «{name}» non è stato accettato: si possono inviare solo foto JPEG, PNG o WebP e "
    "documenti PDF.",
    "empty": "Il file «{name}» è vuoto e non è stato ricevuto.",
    "download failed": "Non siamo riusciti a ricevere il file «{name}»: provi a inviarlo di nuovo. Il suo messaggio "
    "è stato comunque registrato.",
}
# the same reasons in a few words, for the operators' thread
REFUSAL_LABEL = {
    "too large": "troppo grande",
    "type not allowed": "tipo non ammesso",
    "empty": "file vuoto",
    "download failed": "non scaricato dal canale",
}
_EXT = filetypes.EXTENSIONS


def store_for(settings: Any) -> FileStore:
    """The istanze's file store (the same directory, the same size limit)."""
    return FileStore(root=Path(settings.var_dir) / "attachments", max_bytes=settings.attachments_max_bytes)


def safe_name(name: str, content_type: str | None = None) -> str:
    """A file name fit for a header and a page: no path, no control or quoting characters, the type's extension."""
    # ASCII only: the name goes into a Content-Disposition header as it is
    base = re.sub(r"[^A-Za-z0-9_.\- ]", "_", Path(name or "").name).strip(" ._")[:120] or "allegato"
    ext = _EXT.get(content_type or "")
    if ext and not base.lower().endswith((ext, ".jpeg") if ext == ".jpg" else (ext,)):
        base = f"{base.rsplit('.', 1)[0] if '.' in base else base}{ext}"
    return base


def human_size(n: int) -> str:
    """1500000 -> "1,5 MB" (Italian)."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} MB".replace(".", ",")
    return f"{max(1, round(n / 1000))} kB"


def check(body: bytes, max_bytes: int) -> tuple[str | None, str | None]:
    """``(content_type, None)`` for a file we keep, ``(None, reason)`` otherwise (the istanze's rules)."""
    ctype = sniff(body) or "application/octet-stream"
    problem = file_problem(ctype, body, max_bytes)
    if problem is not None:
        return None, problem[1]
    assert ctype in ALLOWED_TYPES
    return ctype, None


def keep(
    store: FileStore, *, ente_id: int, seed: str | None, name: str, body: bytes, refused: str | None = None
) -> dict[str, Any]:
    """Check one file and write it to the store when it passes; return its description for ``Message.attachments``.
    ``seed`` (the channel's message id and the file's place in it) makes the key stable across retries; without it
    the key is random."""
    if refused is not None:
        return {"name": safe_name(name), "refused": refused}
    ctype, reason = check(body, store.max_bytes)
    if ctype is None:
        return {"name": safe_name(name), "refused": reason or "type not allowed"}
    digest = hashlib.sha256(body).hexdigest()
    token = hashlib.sha256(seed.encode()).hexdigest()[:32] if seed else uuid.uuid4().hex
    key = f"chat/{ente_id}/{token}"
    store.write(key, body)
    return {"name": safe_name(name, ctype), "content_type": ctype, "size": len(body), "sha256": digest, "key": key}


def refusals(attachments: Iterable[dict[str, Any]], max_bytes: int) -> list[str]:
    """The Italian explanation of each file not kept, for the citizen."""
    return [
        REFUSED.get(str(a["refused"]), REFUSED["type not allowed"]).format(
            name=a.get("name") or "allegato", limit=human_size(max_bytes)
        )
        for a in attachments
        if a.get("refused")
    ]


def stored(attachments: Iterable[dict[str, Any]] | None) -> list[tuple[int, dict[str, Any]]]:
    """The files of a message that were kept, with their index in ``Message.attachments``."""
    return [(i, a) for i, a in enumerate(attachments or []) if isinstance(a, dict) and a.get("key")]


def keys_of(rows: Iterable[list[dict[str, Any]] | None]) -> list[str]:
    """The store keys of the messages' files (erasure, retention)."""
    return [str(a["key"]) for atts in rows for _, a in stored(atts)]


def path_of(root: Path, key: str) -> Path:
    """The file of a key, refusing anything that would leave the store (a key is never user input, but still)."""
    path = (root / key).resolve()
    if not str(path).startswith(str(root.resolve()) + "/"):
        raise ValueError("key outside the store")
    return path


def is_image(a: dict[str, Any]) -> bool:
    return a.get("content_type") in IMAGE_TYPES


def label(a: dict[str, Any]) -> str:
    """How a file is named in a transcript line: "foto.jpg (230 kB)"."""
    return f"{a.get('name') or 'allegato'} ({human_size(int(a.get('size') or 0))})"


def headers(a: dict[str, Any]) -> dict[str, str]:
    """How a stored file is served: images inline (the thread's thumbnails), PDFs as downloads; the declared type
    is the checked one and the browser may not guess another (nosniff); nothing runs (a sandbox with no sources);
    not kept by shared caches."""
    disposition = "inline" if is_image(a) else "attachment"
    return {
        "Content-Disposition": f'{disposition}; filename="{safe_name(str(a.get("name") or ""))}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store",
        "Referrer-Policy": "no-referrer",
    }
