"""NLU figures from the trained model as the assistant runs it: intent accuracy on the shared dev set
(../shared/eval/nlu_dev_test.yml) and on our held-out entity set (bench/nlu_entities_test.yml), and per-entity
precision / recall / F1 on the entity set.

Entities are scored as the actions receive them: every extractor of the pipeline together (DIET, regexes, lookup
tables), a prediction counted once per (entity, span). A prediction is right when its type and its character span
are exactly the annotated ones; `partial` also credits an overlapping span of the right type (a place read as
"via Manzoni" for "via Manzoni 22"). Neither file is ever trained on.

Run: .venv-rasa/bin/python bench/nlu_eval.py [--model models/urp-....tar.gz] [--errors]
(the rasa venv: it loads the model in process). Prints a table and one JSON line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = ROOT.parent / "shared" / "eval" / "nlu_dev_test.yml"
if not DEV_SET.exists():  # a worktree under /work/wt/<name>: shared/ sits beside the main checkout
    DEV_SET = Path("/work/shared/eval/nlu_dev_test.yml")
ENTITY_SET = ROOT / "bench" / "nlu_entities_test.yml"


def latest_model() -> Path:
    models = sorted((ROOT / "models").glob("urp-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        sys.exit("no trained model in models/: run scripts/train.sh")
    return models[-1]


def examples(path: Path) -> list[dict[str, Any]]:
    """(text, intent, entities) of a Rasa NLU YAML file, through Rasa's own reader."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [
        {
            "text": m.get("text"),
            "intent": m.get("intent"),
            "entities": [(e["entity"], e["start"], e["end"]) for e in m.get("entities") or []],
        }
        for m in data.intent_examples
    ]


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {
        "precision": round(p, 3),
        "recall": round(r, 3),
        "f1": round(2 * p * r / (p + r) if p + r else 0.0, 3),
        "support": tp + fn,
    }


def overlaps(a: tuple[str, int, int], b: tuple[str, int, int]) -> bool:
    return a[0] == b[0] and a[1] < b[2] and b[1] < a[2]


async def run(model: Path, show_errors: bool) -> dict[str, Any]:
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # Rasa's structured debug lines would bury the figures
    agent = Agent.load(str(model))
    out: dict[str, Any] = {"model": model.name}
    errors: list[str] = []
    for name, path in (("dev", DEV_SET), ("entities", ENTITY_SET)):
        cases = examples(path)
        right = 0
        exact: Counter[tuple[str, str]] = Counter()  # (entity, tp|fp|fn)
        partial: Counter[tuple[str, str]] = Counter()
        started = time.perf_counter()
        for case in cases:
            parsed = await agent.parse_message(case["text"])
            intent = parsed["intent"]["name"]
            if intent == case["intent"]:
                right += 1
            else:
                errors.append(f"[{name}] intent {case['intent']} -> {intent}: {case['text']}")
            if name != "entities":
                continue
            gold = set(case["entities"])
            pred = {(e["entity"], e["start"], e["end"]) for e in parsed.get("entities", [])}
            for e in gold:
                exact[(e[0], "tp" if e in pred else "fn")] += 1
                partial[(e[0], "tp" if any(overlaps(e, p) for p in pred) else "fn")] += 1
            for p in pred:
                if p not in gold:
                    exact[(p[0], "fp")] += 1
                    errors.append(
                        f"[entities] extra or wrong span {p[0]}={case['text'][p[1] : p[2]]!r}: {case['text']}"
                    )
                if not any(overlaps(p, g) for g in gold):
                    partial[(p[0], "fp")] += 1
            for g in gold - pred:
                errors.append(f"[entities] missed {g[0]}={case['text'][g[1] : g[2]]!r}: {case['text']}")
        out[f"{name}_intent_accuracy"] = round(right / len(cases), 3)
        out[f"{name}_cases"] = len(cases)
        out[f"{name}_parse_ms"] = round(1000 * (time.perf_counter() - started) / len(cases), 1)
        if name == "entities":
            labels = sorted({k[0] for k in exact} | {k[0] for k in partial})
            out["entity_exact"] = {
                lab: prf(exact[(lab, "tp")], exact[(lab, "fp")], exact[(lab, "fn")]) for lab in labels
            }
            out["entity_partial"] = {
                lab: prf(partial[(lab, "tp")], partial[(lab, "fp")], partial[(lab, "fn")]) for lab in labels
            }
            for kind, counts in (("exact", exact), ("partial", partial)):
                tot = {t: sum(v for (_, tt), v in counts.items() if tt == t) for t in ("tp", "fp", "fn")}
                out[f"entity_{kind}"]["micro"] = prf(tot["tp"], tot["fp"], tot["fn"])
    if show_errors:
        print("\n".join(errors), file=sys.stderr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--errors", action="store_true", help="list every wrong intent and entity on stderr")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    res = asyncio.run(run(args.model or latest_model(), args.errors))
    print(f"model {res['model']}")
    print(
        f"intent accuracy: dev set {res['dev_intent_accuracy']} ({res['dev_cases']} messages), "
        f"entity set {res['entities_intent_accuracy']} ({res['entities_cases']} messages)"
    )
    print(f"{'entity':<12} {'P':>6} {'R':>6} {'F1':>6} {'n':>4}   partial-span P/R/F1")
    for lab, m in res["entity_exact"].items():
        q = res["entity_partial"][lab]
        print(
            f"{lab:<12} {m['precision']:>6} {m['recall']:>6} {m['f1']:>6} {m['support']:>4}   "
            f"{q['precision']}/{q['recall']}/{q['f1']}"
        )
    print(json.dumps(res, ensure_ascii=False))


if __name__ == "__main__":
    main()
