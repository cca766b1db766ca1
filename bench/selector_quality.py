"""Sentence selection without generation: the learned selector against the hand-weighted highlight score,
on the `tune` split of the evaluation questions (choices are made there; the test split is not read).

    python bench/selector_quality.py [--split tune]

For each answerable question, `rag.highlighting.highlight` picks the lead sentence from retrieval's top
passages (as an answer's first quote is picked) both ways; "lead has a gold phrase" asks whether it contains
one of the question's gold phrases, "lead has all" whether it has every one. Interleaved per question, so
load affects both alike. Writes bench/results/selector.json.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from common import ROOT, SHARED_EVAL, shared_eval_index, write_results

import rag
from rag.evaluation import phrases_found, read_questions, select_split
from rag.highlighting import highlight
from rag.selection import SentenceSelector


def measure(kb, questions, selector: SentenceSelector, passages: int) -> dict:
    policy = kb.settings.answering
    found = {"selector": [], "hand_weighted": []}
    complete = {"selector": [], "hand_weighted": []}
    for q in questions:
        if not q.answerable:
            continue
        hits = kb.search(q.question, passages)
        for name, chooser in (("selector", selector), ("hand_weighted", None)):
            key = highlight(q.question, hits, kb.embedder.embed, policy, chooser)
            share = phrases_found(key[0].text, q.answers) if key else 0.0
            found[name].append(share > 0)
            complete[name].append(share == 1.0)
    rate = lambda xs: round(sum(xs) / len(xs), 4) if xs else None  # noqa: E731
    both = list(zip(complete["selector"], complete["hand_weighted"]))
    return {"answerable": len(found["selector"]), "passages": passages,
            "lead_has_a_gold_phrase": {k: rate(v) for k, v in found.items()},
            "lead_has_every_gold_phrase": {k: rate(v) for k, v in complete.items()},
            "only_selector_right": sum(a and not b for a, b in both),
            "only_hand_weighted_right": sum(b and not a for a, b in both)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="tune")
    parser.add_argument("--selector", type=Path, default=None, help="default: the bundled rag/selector.json")
    args = parser.parse_args()
    selector = SentenceSelector.load(args.selector or "")
    results = {"split": args.split, "selector_fitted_on": selector.fitted_on.get("validation")}
    bundled = select_split(read_questions(ROOT / "corpora" / "homeowner-questions.jsonl"), args.split)
    kb = rag.open()
    results["bundled"] = {f"top_{n}": measure(kb, bundled, selector, n) for n in (2, 4)}
    print("bundled", results["bundled"])
    with shared_eval_index() as index:
        if index:
            cfpb = select_split(read_questions(ROOT / "bench" / "questions" / "cfpb.jsonl"), args.split)
            kb = rag.open(index)
            results["cfpb"] = {f"top_{n}": measure(kb, cfpb, selector, n) for n in (2, 4)}
            print("cfpb", results["cfpb"])
        else:
            results["cfpb"] = f"skipped: {SHARED_EVAL} not found"
    write_results("selector", results)


if __name__ == "__main__":
    main()
