"""Demo articles for the demo municipality (knowledge/data/demo_articles.jsonl), published; idempotent by slug."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crm.kb import service

DEMO = Path(__file__).resolve().parents[2] / "knowledge" / "data" / "demo_articles.jsonl"


async def seed(session: Any, ente: Any) -> list[str]:
    rows = [
        (n, json.loads(line)) for n, line in enumerate(DEMO.read_text(encoding="utf-8").splitlines(), 1) if line.strip()
    ]
    report = await service.import_rows(session, ente_id=ente.id, rows=rows, author="demo", publish=True)
    if report["created"] or report["updated"]:
        return [f"kb: {len(report['created'])} articles created, {len(report['updated'])} updated"]
    return []
