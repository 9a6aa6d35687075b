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
