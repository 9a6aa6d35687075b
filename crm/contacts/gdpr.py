"""GDPR: a citizen's data export (everything that points at the contact, and the files held for them). Erasure is
``crm.contacts.commands.erase`` (every store walked by ``crm.contacts.erasure``).

The JSON lists each file by reference (store, record, name, type, size, sha256, ``member``): the file itself is a
member of the export's ZIP archive (``archive``: ``dati.json`` and ``allegati/...``), never inlined in the JSON.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.contacts import service as contacts
from crm.conversations import files as chat_files
from crm.conversations.models import Message
from crm.db import Base, utcnow
from crm.registry import load_models

ERASED = "[dato cancellato su richiesta dell'interessato]"


def _plain(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    return v


# the stores of files held for a contact's records: (table, the column naming the record, what the record is)
FILE_STORES = (
    ("ticket_files", "ticket_id", "request"),  # the phone desk's and the operators' uploads on a request
    ("sp_report_files", "ticket_id", "request"),  # a segnalazione's photos sent on the sportello
    ("ist_attachments", "instance_id", "instance"),  # an istanza's attachments
)


def _member_name(n: int, filename: str) -> str:
    """The file's path in the archive: numbered (two files may share a name), no directory parts."""
    safe = re.sub(r"[^\w.\-]+", "_", filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip("._")[:80]
    return f"allegati/{n:03d}-{safe or 'file'}"


def _file_entry(root: Path | None, key: str, members: dict[str, Path] | None, n: int, **about: Any) -> dict[str, Any]:
    """A file as the export lists it: what it is and ``member``, its path in the export's archive, or
    ``member: null`` when the file is no longer stored (deleted by retention)."""
    path = None
    if root is not None and key:
        try:
            path = chat_files.path_of(root, key)
        except ValueError:
            path = None
    if path is None or not path.is_file():
        return {**about, "member": None}
    member = _member_name(n, str(about.get("filename") or ""))
    if members is not None:
        members[member] = path
    return {**about, "member": member}


async def _files(
    session: AsyncSession,
    t: dict[str, Table],
    out: dict[str, Any],
    root: Path | None,
    members: dict[str, Path] | None,
) -> list[dict[str, Any]]:
    """The files held for the contact: those carried by their requests and istanze, and those sent in their
    conversations' public messages."""
    records = {
        "request": [r["id"] for r in out.get("tickets", [])],
        "instance": [r["id"] for r in out.get("ist_instances", [])],
    }
    files: list[dict[str, Any]] = []
    for name, col, kind in FILE_STORES:
        if name not in t or not records[kind]:
            continue
        table = t[name]
        rows = await session.execute(select(table).where(table.c[col].in_(records[kind])).order_by(table.c.id))
        for r in rows:
            m = r._mapping
            files.append(
                _file_entry(
                    root,
                    m["storage_key"],
                    members,
                    len(files) + 1,
                    store=name,
                    **{col: m[col]},
                    filename=m["filename"],
                    content_type=m["content_type"],
                    size=m["size"],
                    sha256=m["sha256"],
                    at=_plain(m.get("uploaded_at") or m.get("created_at")),
                )
            )
    return files


async def export(
    session: AsyncSession,
    *,
    ente_id: int,
    contact_id: int,
    files_root: Path | None = None,
    members: dict[str, Path] | None = None,
) -> dict[str, Any]:
    """Every row of every table that references the contact, the messages of their conversations and the files held
    for them (``files``: their requests' uploads and photos, their istanze's attachments, the files of their
    messages; each by reference, its ``member`` in the archive; ``members`` is filled with member -> file under
    ``files_root``, for ``archive``)."""
    load_models()
    c = await contacts.get(session, ente_id=ente_id, contact_id=contact_id)
    out: dict[str, Any] = {"contact": contacts.to_out(c).model_dump(mode="json"), "exported_at": utcnow().isoformat()}
    for table in Base.metadata.sorted_tables:
        cols = [
            col
            for col in table.columns
            if any(fk.column.table.name == "contacts" and fk.column.name == "id" for fk in col.foreign_keys)
        ]
        if not cols or table.name in ("contacts", "contact_phones", "contact_emails", "contact_identities"):
            continue
        rows = []
        for col in cols:
            result = await session.execute(select(table).where(col == c.id))
            rows += [{k: _plain(v) for k, v in r._mapping.items()} for r in result]
        if rows:
            out[table.name] = rows
    files = await _files(session, dict(Base.metadata.tables), out, files_root, members)
    conv_ids = [r["id"] for r in out.get("conversations", [])]
    if conv_ids:
        msgs = (
            await session.scalars(
                select(Message)
                .where(Message.conversation_id.in_(conv_ids), Message.private.is_(False))
                .order_by(Message.id)
            )
        ).all()
        out["messages"] = [
            {
                "conversation_id": m.conversation_id,
                "direction": m.direction,
                "author": m.author_kind,
                "text": m.text,
                "at": m.created_at.isoformat(),
            }
            for m in msgs
        ]
        for m in msgs:
            for a in m.attachments or []:
                if isinstance(a, dict) and a.get("key"):
                    files.append(
                        _file_entry(
                            files_root,
                            str(a["key"]),
                            members,
                            len(files) + 1,
                            store="messages",
                            conversation_id=m.conversation_id,
                            filename=a.get("name", ""),
                            content_type=a.get("content_type", ""),
                            size=a.get("size"),
                            sha256=a.get("sha256", ""),
                            at=m.created_at.isoformat(),
                        )
                    )
    if files:
        out["files"] = files
    return out


def archive(data: dict[str, Any], members: dict[str, Path]) -> bytes:
    """The export as the citizen takes it away: ``dati.json`` (the JSON export) and each file under its ``member``
    name. A file gone since the export was read (retention in between) is left out and its member set to null."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        gone = set()
        for member, path in members.items():
            try:
                z.writestr(member, path.read_bytes())
            except OSError:
                gone.add(member)
        for f in data.get("files", []):
            if f.get("member") in gone:
                f["member"] = None
        z.writestr("dati.json", json.dumps(data, ensure_ascii=False, indent=2, default=str))
    return buf.getvalue()
