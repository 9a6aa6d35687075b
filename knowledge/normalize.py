"""Italian text normalisation for the lexical side: accents, apostrophes, stop words, lemmas and prefix stems.

"all'anagrafe" -> ["anagrafe"]; "cremato" and "cremazione" meet on the 5-letter prefix "crema", which lemmas alone
miss (simplemma gives "cremare" / "cremazione"). Prefix truncation is a crude but well-studied stemmer for Italian IR.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import simplemma

STOPWORDS = frozenset(
    """
    a ad al allo ai agli all alla alle agl con col coi da dal dallo dai dagli dall dalla dalle di del dello dei degli
    dell
    della delle in nel nello nei negli nell nella nelle su sul sullo sui sugli sull sulla sulle per tra fra il lo la
    i gli le l un uno una un' e ed o od ma se che chi cui non piu più meno come dove quando quanto quanta quanti quante
    quale quali cosa cose mi ti si ci vi ne me te se lui lei noi voi loro io tu egli ella esso essa essi esse mio mia
    miei mie tuo tua tuoi tue suo sua suoi sue nostro nostra nostri nostre vostro vostra vostri vostre questo questa
    questi queste quello quella quelli quelle è e' sono sei siamo siete era erano ero sara sarà essere stato stata
    ho hai ha abbiamo avete hanno avere avuto fare faccio fa fanno fatto devo deve devono dovere posso puo può possono
    potere vorrei voglio vuole volere serve servono bisogna c ce anche ancora gia già solo molto poco tutto tutti
    tutte ogni qualche qualcosa niente nulla sempre mai poi allora quindi dunque però pero perche perché buongiorno
    buonasera salve ciao grazie gentilmente favore per piacere vorrei sapere informazioni informazione domanda
    comune comunale municipio ufficio uffici cittadino cittadini dei
    """.split()
)

_APOSTROPHE = re.compile(r"[’'`´]")
_TOKEN = re.compile(r"[a-z0-9]+")


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@lru_cache(maxsize=100_000)
def _lemma(token: str) -> str:
    return strip_accents(simplemma.lemmatize(token, lang="it").lower())


def tokens(text: str) -> list[str]:
    """Lower-case word tokens without accents; apostrophes split ("dell'anagrafe" -> "dell", "anagrafe")."""
    text = _APOSTROPHE.sub(" ", text.lower())
    return _TOKEN.findall(strip_accents(text))


def content_terms(text: str) -> list[str]:
    """Lexical terms: each content word's lemma plus its 5-letter prefix stem (acronyms like TARI kept whole)."""
    out: list[str] = []
    for tok in tokens(text):
        if tok in STOPWORDS or (len(tok) < 2 and not tok.isdigit()):
            continue
        # short words and acronyms (TARI, IMU, ZTL, CIE, SCIA) are kept whole: lemmatisers mangle them
        # ("tari" -> "tarare")
        lemma = tok if len(tok) <= 4 else _lemma(tok)
        if lemma in STOPWORDS:
            continue
        out.append(lemma)
        if len(tok) > 5:
            out.append("~" + tok[:5])
    return out


# a clitic before a verb makes it reflexive («mi sposto», «ci siamo trasferiti»): moving house, not moving a wall
_CLITICS = frozenset("mi ti si ci vi".split())
_AUXILIARIES = frozenset("sono sei e siamo siete ero eri era eravamo eravate erano saro sarai sara saremo".split())
_ENCLITIC = re.compile(r"(?:ar|er|ir)(?:mi|ti|si|ci|vi)$")  # «spostarmi», «trasferirci»
_PARTICIPLE = re.compile(r"^(\w+)(at|ut|it)[oaie]$")  # «spostati» -> spostare (simplemma gives the adjective)
_INFINITIVE = {"at": "are", "ut": "ere", "it": "ire"}


def thesaurus_keys(text: str) -> list[str]:
    """The keys a question's words are looked up by in the thesaurus: each word, its lemma (one entry covers a
    verb's every form: «sposto», «spostiamo» -> spostare), the reflexive infinitive when a clitic goes with the verb
    («mi sposto», «ci siamo spostati», «spostarmi» -> spostarsi) and each pair of adjacent words («casa popolare»)."""
    toks = tokens(text)
    keys: list[str] = []
    for i, tok in enumerate(toks):
        lemma = strip_accents(simplemma.lemmatize(tok, lang="it").lower())
        keys += [tok, lemma]
        before = toks[max(i - 2, 0) : i]
        reflexive = bool(_ENCLITIC.search(tok)) or (
            bool(before)
            and (before[-1] in _CLITICS or (len(before) == 2 and before[0] in _CLITICS and before[1] in _AUXILIARIES))
        )
        participle = _PARTICIPLE.match(tok)
        verb = (
            lemma
            if lemma.endswith(("are", "ere", "ire")) or not participle
            else participle[1] + _INFINITIVE[participle[2]]
        )
        if reflexive and verb.endswith(("are", "ere", "ire")):
            keys.append(verb[:-1] + "si")
        if i:
            keys.append(f"{toks[i - 1]} {tok}")
    return list(dict.fromkeys(keys))


def query_terms(text: str) -> list[str]:
    """Lexical terms of a citizen's question: content terms plus the administration's words for everyday ones."""
    from knowledge.thesaurus import SYNONYMS

    out = content_terms(text)
    extra: list[str] = []
    for key in thesaurus_keys(text):
        for syn in SYNONYMS.get(key, ()):
            extra.extend(content_terms(syn))
    return out + [t for t in extra if t not in out]
