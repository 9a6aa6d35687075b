"""Calibrated abstention: one logistic decision "answer with the best article, or not", fitted on the KB itself.

Hand rules (a minimum fused score, a margin, a share of known words) each veto an answer on their own, so a citizen
who says "spazzatura" where the article says "rifiuti" was refused for vocabulary alone. Here every signal only
shifts one probability: a question the dense model ranks confidently is answered even with everyday words, and a
question that matches words but no article's meaning is not.

The training data comes from the knowledge base, never from an evaluation set (see ``KnowledgeIndex.fit_abstention``):
each article's phrasings and sentences, searched with that very phrasing or sentence taken out of the index, are
positives; the same texts searched with their whole article left out (leave-one-article-out: the KB no longer
answers them), the out-of-competence anchors' texts and a few plainly off-topic questions
(``data/off_topic.txt``) are negatives. Every feature may only push one way (more similarity never lowers the
confidence; a closer out-of-competence anchor never raises it): a feature the data would give the other sign is
dropped and the model refitted, so sampling quirks cannot teach a veto. What configuration fixes is the share of the
KB's own held-out texts the model must answer (``Tuning.answer_recall``); the probability threshold that gives it is
derived at each fit and kept with the model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

# the order of the feature vector; a saved model with other names is discarded and re-fitted
FEATURES = (
    "dense",  # cosine of the best article (its best vector)
    "dense_margin",  # ... minus the runner-up article's
    "lexical",  # the best article's BM25, as a share of the best a document could score on these words
    "fused_margin",  # fused score gap to the runner-up
    "coverage",  # share of the question's words found in the best article
    "known",  # idf-weighted share of the question's words found anywhere in the KB
    "anchor_dense_gap",  # best out-of-competence anchor's cosine minus the best article's
    "anchor_lexical_gap",  # ... and the same for BM25
)
# +1: more of it can only raise the confidence; -1: only lower it
SIGNS = {
    "dense": 1,
    "dense_margin": 1,
    "lexical": 1,
    "fused_margin": 1,
    "coverage": 1,
    "known": 1,
    "anchor_dense_gap": -1,
    "anchor_lexical_gap": -1,
}


@dataclass
class AbstentionModel:
    """Standardised logistic regression: p(answer) = sigmoid(w · (x - mean) / scale + b)."""

    weights: list[float]  # one per FEATURES entry; 0 for a dropped feature
    bias: float
    mean: list[float]
    scale: list[float]
    threshold: float = 0.5  # answer when the probability reaches it
    features: tuple[str, ...] = FEATURES
    positives: int = 0
    negatives: int = 0
    fitted_on: str = "this knowledge base"  # or the shipped default's name, for a KB too small to learn from

    def probability(self, x: np.ndarray | list[float]) -> float:
        z = (np.asarray(x, dtype=np.float64) - np.asarray(self.mean)) / np.asarray(self.scale)
        logit = float(z @ np.asarray(self.weights) + self.bias)
        return float(1.0 / (1.0 + np.exp(-np.clip(logit, -30, 30))))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["features"] = list(self.features)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AbstentionModel | None:
        if not data or tuple(data.get("features") or ()) != FEATURES:
            return None
        try:
            return cls(
                weights=[float(w) for w in data["weights"]],
                bias=float(data["bias"]),
                mean=[float(m) for m in data["mean"]],
                scale=[float(s) for s in data["scale"]],
                threshold=float(data["threshold"]),
                positives=int(data.get("positives", 0)),
                negatives=int(data.get("negatives", 0)),
                fitted_on=str(data.get("fitted_on") or ""),
            )
        except (KeyError, TypeError, ValueError):
            return None


# below this many answerable examples a KB is too small to fit eight weights: it gets the shipped default model,
# fitted the same way on the demo KB (knowledge/data/demo_articles.jsonl, 65 articles) with the same embedder
MIN_POSITIVES = 30
DEFAULTS_DIR = Path(__file__).parent / "data"


def default_model(embedder_name: str) -> AbstentionModel | None:
    """The model fitted on the demo KB for this embedder (``abstention_<embedder>.json``), if one is shipped."""
    path = DEFAULTS_DIR / f"abstention_{embedder_name.replace('/', '_').replace(':', '_')}.json"
    try:
        return AbstentionModel.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def fit(x: np.ndarray, y: np.ndarray, recall: float = 0.95, c: float = 1.0) -> AbstentionModel:
    """Fit on feature rows ``x`` (columns as FEATURES) with labels ``y`` (1 = answer), then place the threshold so
    that ``recall`` of the positives are answered. Classes are weighted to count equally."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if len(set(y.tolist())) < 2:
        raise ValueError("the abstention model needs both answerable and unanswerable examples")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    z = (x - mean) / scale
    signs = np.array([SIGNS[f] for f in FEATURES], dtype=np.float64)
    kept = list(range(len(FEATURES)))
    while True:
        clf = LogisticRegression(C=c, class_weight="balanced", max_iter=1000)
        clf.fit(z[:, kept], y)
        coef = clf.coef_[0] * signs[kept]
        if coef.min() >= 0 or len(kept) == 1:
            break
        del kept[int(np.argmin(coef))]  # the most wrong-signed feature goes; refit without it
    weights = np.zeros(len(FEATURES))
    weights[kept] = clf.coef_[0]
    model = AbstentionModel(
        weights=weights.tolist(),
        bias=float(clf.intercept_[0]),
        mean=mean.tolist(),
        scale=scale.tolist(),
        positives=int(y.sum()),
        negatives=int(len(y) - y.sum()),
    )
    p = np.array([model.probability(row) for row in x[y == 1]])
    model.threshold = float(np.quantile(p, 1.0 - recall)) if len(p) else 0.5
    return model


class _Hit(Protocol):
    score: float
    dense: float
    lexical: float
    coverage: float


def features(articles: Sequence[_Hit], anchor: _Hit | None, known: float) -> list[float]:
    """The feature vector (``FEATURES``) of one search: the best article, the runner-up and the best anchor."""
    best = articles[0]
    # the runner-up article; in a KB of one article there is none, and the best anchor stands in for it (a margin
    # over nothing would make any question look certain)
    second = articles[1] if len(articles) > 1 else anchor
    second_dense = second.dense if second is not None else 0.0
    second_score = second.score if second is not None else 0.0
    anchor_dense = anchor.dense if anchor is not None else 0.0
    anchor_lexical = anchor.lexical if anchor is not None else 0.0
    return [
        best.dense,
        best.dense - second_dense,
        best.lexical,
        best.score - second_score,
        best.coverage,
        known,
        anchor_dense - best.dense,
        anchor_lexical - best.lexical,
    ]
