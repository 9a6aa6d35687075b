"""Looking for a person's data everywhere: every table and text/JSON column of a database (reflected, so also
tables our models do not know, such as Rasa's tracker store), every file under a directory. Used by the erasure
tests."""

from __future__ import annotations

import secrets
import string
from pathlib import Path

from sqlalchemy import MetaData, Text, cast, create_engine, or_, select
from stdnum.it import codicefiscale


def _person() -> dict[str, str]:
    tail = "".join(secrets.choice(string.ascii_lowercase) for _ in range(5))
    cf15 = "ZRB" + "GFR" + "85" + "M" + "41" + "H501"  # Zerbinati Gianfranca, 1 Aug 1985, Roma
    n = secrets.randbelow(10**6)
    return {
        "first": "Gianfranca",
        "last": f"Zerbinati{tail}",
        "cf": cf15 + codicefiscale.calc_check_digit(cf15),
        "phone": f"+39347{n:07d}"[:13],
        "email": f"gianfranca.{tail}@posta-prova.it",
    }


def _needles(p: dict[str, str]) -> list[str]:
    """What must be gone: the surname (unique to this test), fiscal code, phone (with and without +39), e-mail."""
    return [p["last"].lower(), p["cf"].lower(), p["phone"][3:], p["email"].lower()]


def _scan_database(url: str, needles: list[str]) -> tuple[int, list[str]]:
    """Every table, every text-like column (JSON cast to text), case-insensitive: (tables scanned, hits)."""
    from crm.db import sync_url

    engine = create_engine(sync_url(url))
    hits: list[str] = []
    tables = 0
    try:
        md = MetaData()
        md.reflect(bind=engine)
        with engine.connect() as conn:
            for table in md.sorted_tables:
                tables += 1
                cols = [c for c in table.columns if c.type is not None]
                texty = [
                    c
                    for c in cols
                    if c.type.__class__.__name__.upper()
                    in ("VARCHAR", "TEXT", "JSON", "JSONB", "STRING", "NVARCHAR", "CHAR")
                ]
                if not texty:
                    continue
                cond = or_(*[cast(c, Text).ilike(f"%{n}%") for c in texty for n in needles])
                for row in conn.execute(select(*texty).where(cond).limit(5)):
                    hits.append(f"{table.name}: {[str(v)[:80] for v in row]}")
    finally:
        engine.dispose()
    return tables, hits


def _file_stores(url: str) -> set[str]:
    """The tables that point at files kept outside the database (a ``storage_key`` column), reflected: a store added
    later is found here whether or not the erasure knows it."""
    from crm.db import sync_url

    engine = create_engine(sync_url(url))
    try:
        md = MetaData()
        md.reflect(bind=engine)
        return {t.name for t in md.sorted_tables if "storage_key" in t.columns}
    finally:
        engine.dispose()


def _scan_files(root: Path, needles: list[str]) -> tuple[int, list[str]]:
    hits, n = [], 0
    for path in root.rglob("*"):
        if not path.is_file() or path.suffix in (".db", ".db-wal", ".db-shm", ".faiss", ".npy", ".log"):
            continue
        n += 1
        body = path.read_bytes().lower()
        name = path.name.lower()
        for needle in needles:
            if needle.encode() in body or needle in name:
                hits.append(f"{path}: {needle}")
    return n, hits


SUMMARY: list[str] = []  # the security suite's counts, printed at the end of the run (tests/security/conftest.py)


def report(line: str) -> None:
    print("\n" + line)
    SUMMARY.append(line)
