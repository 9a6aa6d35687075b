"""The abstention model on its own: signs it may not learn, the threshold it places, what it saves."""

from __future__ import annotations

import numpy as np
import pytest

from knowledge.abstention import FEATURES, AbstentionModel, fit

pytestmark = pytest.mark.db_independent  # no database: runs once, in the SQLite pass


def _data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = 400
    y = (rng.random(n) < 0.4).astype(int)
    x = rng.normal(size=(n, len(FEATURES)))
    x[:, FEATURES.index("dense")] += 2.5 * y  # answerable questions are closer to their article
    # a sampling quirk: in this data the answerable ones cover *fewer* of the question's words
    x[:, FEATURES.index("coverage")] -= 1.0 * y
    return x, y


def test_a_feature_cannot_learn_a_veto_and_the_threshold_gives_the_recall() -> None:
    x, y = _data(np.random.default_rng(7))
    model = fit(x, y, recall=0.9)
    weights = dict(zip(FEATURES, model.weights, strict=True))
    assert weights["dense"] > 0
    assert weights["coverage"] == 0.0  # it would have come out negative: dropped, not learnt
    answered = np.mean([model.probability(row) >= model.threshold for row in x[y == 1]])
    assert answered == pytest.approx(0.9, abs=0.02)
    refused = np.mean([model.probability(row) < model.threshold for row in x[y == 0]])
    assert refused > 0.7


def test_round_trip_and_stale_models_are_refused() -> None:
    x, y = _data(np.random.default_rng(3))
    model = fit(x, y)
    again = AbstentionModel.from_dict(model.to_dict())
    assert again is not None and again.probability(x[0]) == pytest.approx(model.probability(x[0]))
    assert again.threshold == pytest.approx(model.threshold)
    assert AbstentionModel.from_dict({**model.to_dict(), "features": ["dense"]}) is None  # other features: refit
    assert AbstentionModel.from_dict({"weights": "x"}) is None
    assert AbstentionModel.from_dict(None) is None


def test_one_class_cannot_be_fitted() -> None:
    with pytest.raises(ValueError):
        fit(np.zeros((5, len(FEATURES))), np.ones(5))
