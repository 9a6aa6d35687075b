"""Background work never holds SQLite's writer for long (issue 14, item 6: each write transaction ≤ 100 ms).

On a fresh SQLite database with one ente and ``--articles`` published articles, measures how long every write
transaction (``BEGIN IMMEDIATE`` to its commit or rollback) holds the database, in three phases:

- ``startup``: the app as ``urp serve`` builds it (in this process), with the knowledge base's index built at start
  (``URP_KB_WARM_UP``) while the scheduler runs its jobs every 0.2 s, then ``--seconds`` more of scheduler rounds;
- ``kb_reindex_cli``: ``urp kb reindex`` (the full rebuild an admin runs after a bulk import);
- ``kb_edits``: ``--edits`` article edits through the domain command, each applied to the running app's index.

Every other writer (a citizen's message) waits that long. Prints one JSON line: per phase the number of write
transactions, p50, p95, the longest and how many went over 100 ms, and the five longest overall.
Run: .venv/bin/python bench/write_holds_bench.py [--articles 120] [--seconds 5] [--edits 10]"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PHASE = ["setup"]
HOLDS: list[tuple[str, float]] = []
LABELS: list[str] = []  # beside HOLDS: the first write statement of each transaction, to tell which job held it


def _instrument() -> None:
    """Time every write transaction of every engine of this process."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def begin(conn: Any) -> None:
        if conn.get_execution_options().get("sqlite_begin", "IMMEDIATE") == "IMMEDIATE":
            conn.info["write_t0"] = time.perf_counter()

    def end(conn: Any) -> None:
        t0 = conn.info.pop("write_t0", None)
        if t0 is not None:
            HOLDS.append((PHASE[0], (time.perf_counter() - t0) * 1000))
            read = conn.info.pop("read_first", "")
            LABELS.append(conn.info.pop("write_first", f"(no write) {read}"))

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        if "write_t0" not in conn.info or "write_first" in conn.info or sql.lstrip().upper().startswith("BEGIN"):
            return
        if sql.lstrip()[:6].upper() in WRITES:
            conn.info["write_first"] = " ".join(sql.split()[:4])
        else:
            conn.info.setdefault("read_first", " ".join(sql.split()[:12])[:160])

    event.listen(Engine, "before_cursor_execute", statement)
    event.listen(Engine, "begin", begin)
    event.listen(Engine, "commit", end)
    event.listen(Engine, "rollback", end)


WRITES = {"INSERT", "UPDATE", "DELETE"}


def _summary(ms: list[float]) -> dict[str, Any]:
    v = sorted(ms)
    if not v:
        return {"n": 0}
    return {
        "n": len(v),
        "p50": round(v[len(v) // 2], 1),
        "p95": round(v[int(len(v) * 0.95)], 1),
        "max": round(v[-1], 1),
        "over_100ms": sum(1 for x in v if x > 100),
    }


BODY = (
    "Per ottenere il servizio {i} occorre presentare la domanda all'ufficio competente del Comune, con un documento "
    "di identità valido. L'ufficio riceve su appuntamento dal lunedì al venerdì, dalle 9 alle 12. Il costo è di {i} "
    "euro, da pagare con PagoPA. I tempi di risposta sono di trenta giorni dalla presentazione della domanda."
)


async def _seed(url: str, slug: str, n: int) -> int:
    from crm.db import make_engine, make_sessionmaker, transaction
    from crm.entes import service as entes
    from crm.kb import service as kb
    from crm.kb.schemas import ArticleIn
    from crm.registry import load_models

    load_models()
    engine = make_engine(url)
    try:
        async with transaction(make_sessionmaker(engine)) as s:
            ente = await entes.create(s, slug=slug, name="Comune di Prova", patron_day="06-29")
            for i in range(n):
                data = ArticleIn(
                    slug=f"servizio-{i}",
                    title=f"Come si richiede il servizio numero {i}",
                    body=BODY.format(i=i),
                    phrasings=[f"come faccio a richiedere il servizio {i}?"],
                    status="published",
                )
                await kb.create(s, ente_id=ente.id, data=data, author="bench")
            return int(ente.id)
    finally:
        await engine.dispose()


async def _startup_and_edits(env: dict[str, str], ente_id: int, seconds: float, edits: int) -> None:
    from tests.channels.inproc import running

    PHASE[0] = "startup"
    async with running(env) as app:
        for event in list(app.ctx.readiness.values()):
            await event.wait()
        await asyncio.sleep(seconds)
        PHASE[0] = "kb_edits"
        from sqlalchemy import select

        from crm.core.auth import Principal
        from crm.core.commands import acting
        from crm.kb import commands
        from crm.kb.models import Article
        from crm.kb.schemas import ArticlePatch

        async with app.ctx.read_sessionmaker() as s:
            ids = (await s.scalars(select(Article.id).where(Article.ente_id == ente_id).limit(edits))).all()
        for k, article_id in enumerate(ids):
            async with acting(app, Principal.system(ente_id, "bench")) as cx:
                await commands.update_article(
                    cx, article_id=article_id, data=ArticlePatch(body=BODY.format(i=1000 + k))
                )
        await asyncio.sleep(1)
        PHASE[0] = "stopping"


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=120)
    ap.add_argument("--seconds", type=float, default=5.0, help="scheduler rounds after the index is built")
    ap.add_argument("--edits", type=int, default=10)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="write-holds-"))
    url = f"sqlite:///{tmp / 'urp.db'}"
    slug = "comune-di-prova"
    env = {
        "URP_ENV": "test",
        "URP_DATABASE_URL": url,
        "URP_SECRET_KEY": "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "URP_SERVICE_TOKEN": "bench-service-token",
        "URP_VAR_DIR": str(tmp / "var"),
        "URP_DEFAULT_ENTE": slug,
        "URP_SCHEDULER": "true",
        "URP_SCHEDULER_INTERVAL_SECONDS": "0.2",
        "URP_KB_WARM_UP": "true",
        "URP_RASA_URL": "http://127.0.0.1:9",
    }
    os.environ.update(env)
    from crm.migrations import upgrade

    upgrade(url)
    _instrument()
    ente_id = asyncio.run(_seed(url, slug, args.articles))
    started = time.perf_counter()
    asyncio.run(_startup_and_edits(env, ente_id, args.seconds, args.edits))

    from click.testing import CliRunner

    from crm.cli import main as urp

    PHASE[0] = "kb_reindex_cli"
    t0 = time.perf_counter()
    r = CliRunner().invoke(urp, ["kb", "reindex", "--ente", slug], env=env, catch_exceptions=False)
    reindex_s = time.perf_counter() - t0
    assert r.exit_code == 0, r.output

    phases = ("startup", "kb_edits", "kb_reindex_cli")
    result: dict[str, Any] = {
        "articles": args.articles,
        "phases": {p: _summary([ms for ph, ms in HOLDS if ph == p]) for p in phases},
        "longest": [
            (p, round(ms, 1), label)
            for (p, ms), label in sorted(zip(HOLDS, LABELS, strict=True), key=lambda h: -h[0][1])
            if p != "setup"
        ][:12],
        "kb_reindex_cli_s": round(reindex_s, 1),
        "wall_s": round(time.perf_counter() - started, 1),
        "cpus": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
