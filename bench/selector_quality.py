"""Sentence selection and answerability without generation: the learned selector against the hand-weighted
highlight score and the evidence model, on the `tune` split of the evaluation questions.

    python bench/selector_quality.py --selector adapters/selector [--split tune]

For each answerable question, the candidate passages (what the gate hands the reranker) are cut into sentences;
"lead has a gold phrase" asks whether the best-scored sentence contains one of the question's gold phrases —
what an answer's first quote needs. For answerability, the ROC AUC of the best sentence score separating
answerable from unanswerable questions (near-topic ones included), next to the evidence model's probability.
Writes bench/results/selector.json.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import ROOT, SHARED_EVAL, shared_eval_index, write_results

import rag
from rag.embedding import bundled_embedding_model
from rag.evidence import EvidenceModel
from rag.evaluation import phrases_found, read_questions, select_split
from rag.highlighting import highlight
from rag.selection import SentenceSelector
from rag.selection.data import statements
from rag.selection.model import pair_text
from rag.selection.training import roc_auc


def measure(kb, questions, selector: SentenceSelector, candidates: int) -> dict:
    evidence = EvidenceModel.load(kb.settings.generation.evidence_model)
    lead_selector, lead_highlight, answerable, best_scores, evidence_scores = [], [], [], [], []
    seconds = 0.0
    for q in questions:
        hits = kb.search(q.question, candidates)
        texts = [(n, pair_text(heading, s), s) for n, h in enumerate(hits, 1) for heading, s in statements(h)]
        started = time.perf_counter()
        scores = selector.score(q.question, [t for _, t, _ in texts]) if texts else []
        seconds += time.perf_counter() - started
        best = max(range(len(texts)), key=lambda i: scores[i]) if texts else None
        answerable.append(int(q.answerable))
        best_scores.append(float(scores[best]) if best is not None else 0.0)
        evidence_scores.append(evidence.probability(q.question, hits))
        if q.answerable:
            lead_selector.append(best is not None and phrases_found(texts[best][2], q.answers) > 0)
            old = highlight(q.question, hits, kb.embedder.embed, kb.settings.answering)
            lead_highlight.append(bool(old) and phrases_found(old[0].text, q.answers) > 0)
    share = lambda xs: round(sum(xs) / len(xs), 4) if xs else None  # noqa: E731
    return {"questions": len(questions), "answerable": sum(answerable),
            "lead_has_gold_phrase": {"selector": share(lead_selector), "highlight": share(lead_highlight)},
            "answerability_auc": {"selector_best_score": roc_auc(best_scores, answerable),
                                  "evidence_model": roc_auc(evidence_scores, answerable)},
            "selector_seconds_per_question": round(seconds / max(1, len(questions)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--selector", type=Path, required=True)
    parser.add_argument("--split", default="tune")
    parser.add_argument("--candidates", type=int, default=8)
    args = parser.parse_args()
    selector = SentenceSelector(args.selector, bundled_embedding_model())
    results = {"split": args.split, "selector": str(args.selector), "card": selector.card.get("history")}
    bundled = select_split(read_questions(ROOT / "corpora" / "homeowner-questions.jsonl"), args.split)
    results["bundled"] = measure(rag.open(), bundled, selector, args.candidates)
    print("bundled", results["bundled"])
    with shared_eval_index() as index:
        if index:
            cfpb = select_split(read_questions(ROOT / "bench" / "questions" / "cfpb.jsonl"), args.split)
            results["cfpb"] = measure(rag.open(index), cfpb, selector, args.candidates)
            print("cfpb", results["cfpb"])
        else:
            results["cfpb"] = f"skipped: {SHARED_EVAL} not found"
    write_results("selector", results)


if __name__ == "__main__":
    main()
