"""What a message says beyond an intent, read from the NLU training data (bot/data/nlu.yml), never from a word list
kept here. The NLU reads some whole questions as a courtesy («mi è arrivata una bolletta dell'acqua troppo alta» as a
thank-you: "troppo gentile" is one of its examples); a message with a word that none of the courtesy intents'
examples uses says more than a courtesy, and the knowledge base is asked first (``knowledge.article_beyond``). A
request is explicit when it has a word mostly that intent's examples use («operatore» asks for a person)."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

NLU_DATA = Path(os.environ.get("URP_NLU_DATA") or Path(__file__).resolve().parent.parent / "bot" / "data" / "nlu.yml")

# the intents whose examples are only courtesy: together they are what small talk says
COURTESY = ("greet", "goodbye", "thank", "affirm", "deny", "bot_challenge")

# an entity annotation in an example: "[carta d'identità](service)" or '[AN-9QPX3]{"entity": "code"}'
_ANNOTATION = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")
_WORD = re.compile(r"\w+")


def words(text: str) -> set[str]:
    """The message's words as the NLU's tokenizer splits them (apostrophes split: "dell'acqua" -> dell, acqua)."""
    return set(_WORD.findall(text.lower()))


@functools.cache
def examples() -> dict[str, tuple[str, ...]]:
    """Each intent's training examples, annotations reduced to their text."""
    data: Any = YAML(typ="safe").load(NLU_DATA.read_text(encoding="utf-8"))
    out: dict[str, tuple[str, ...]] = {}
    for item in (data or {}).get("nlu") or []:
        if isinstance(item, dict) and item.get("intent") and isinstance(item.get("examples"), str):
            lines = (line.strip() for line in item["examples"].splitlines())
            texts = [_ANNOTATION.sub(r"\1", line[2:]) for line in lines if line.startswith("- ")]
            out[str(item["intent"])] = (*out.get(str(item["intent"]), ()), *texts)
    return out


@functools.cache
def vocabulary(intents: tuple[str, ...]) -> frozenset[str]:
    """Every word the examples of ``intents`` use."""
    ex = examples()
    return frozenset(w for intent in intents for text in ex.get(intent, ()) for w in words(text))


@functools.cache
def characteristic(intent: str) -> frozenset[str]:
    """The words most of whose uses in the examples are ``intent``'s ("operatore", "parlare", "qualcuno" for
    human_handoff: the bot_challenge and greet examples use some of them too, never as often). A word that more than
    a quarter of the intents use is a function word whatever its count: "con" is mostly human_handoff's ("parlare con
    un operatore") but six intents use it, and «ho un problema con l'ISEE» does not ask for a person."""
    ex = examples()
    uses: dict[str, int] = {}
    own: dict[str, int] = {}
    spread: dict[str, set[str]] = {}
    for name, texts in ex.items():
        for text in texts:
            for w in words(text):
                uses[w] = uses.get(w, 0) + 1
                spread.setdefault(w, set()).add(name)
                if name == intent:
                    own[w] = own.get(w, 0) + 1
    return frozenset(w for w, n in own.items() if 2 * n > uses[w] and 4 * len(spread[w]) <= len(ex))


def own_words(text: str, intents: tuple[str, ...] = COURTESY) -> set[str]:
    """The words of ``text`` that the examples of ``intents`` never use: what the message says beyond them."""
    return words(text) - vocabulary(intents)


def names_intent(text: str, intent: str) -> bool:
    """``text`` asks for ``intent`` in so many words: a word characteristic of its examples («un operatore» for
    human_handoff, «prenotare» for book_appointment)."""
    return bool(words(text) & characteristic(intent))


# «parlare con l'assistente sociale», «mettermi in contatto con il comando dei vigili»: whom the message asks for
_ASKS_FOR = re.compile(
    r"\b(?:parlare|parlarne|contatto|sentire|passami|passarmi|mettimi|mettermi)\s+(?:con|col|a|al|alla)\s+"
    r"(?:(?:il|lo|la|i|gli|le|una|uno|un)\s+|(?:l|un)')?([a-zàèéìòù]+)(?:\s+([a-zàèéìòù]+))?"
)


def asks_for_someone_else(text: str) -> bool:
    """A request for a person names someone the human_handoff examples never do («l'assistente sociale», «il
    sindaco»), not an operator, a person, somebody at the office («un vero operatore» is still one): the URP is not
    that person, so the office's article serves the citizen better, with the operator still offered."""
    match = _ASKS_FOR.search(text.lower().replace("’", "'"))
    if match is None:
        return False
    return not {w for w in match.groups() if w} & vocabulary(("human_handoff",))
