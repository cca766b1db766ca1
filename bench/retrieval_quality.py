"""Retrieval quality: gold-document hit@1/3/5 and MRR, hybrid vs dense only, and hybrid with the
answer path's reranking (the generator's query likelihood choosing the top k from more candidates).

On the bundled question set and, when present, ../shared/eval (a corpus the
project never trains or tunes on). Run: python bench/retrieval_quality.py
"""
from __future__ import annotations

from pathlib import Path

import rag
from rag.evaluation import evaluate_retrieval, read_questions
from rag.reranking import rerank

from common import ROOT, SHARED_EVAL, shared_eval_index, write_results


class Reranked:
    """Hybrid search, then the reranking answers apply."""

    def __init__(self, kb):
        self.kb = kb

    def search(self, query: str, k: int):
        candidates = self.kb.search(query, max(k, self.kb.settings.generation.rerank_candidates))
        return rerank(query, candidates, self.kb.answerer.generator.likelihoods)[:k]


def measure(index: Path, questions: Path) -> dict:
    qs = read_questions(questions)
    settings = rag.Settings.load(env={})
    results = {mode: evaluate_retrieval(rag.open(index, settings.with_overrides(retrieval__hybrid=hybrid)), qs)
               for mode, hybrid in (("hybrid", True), ("dense", False))}
    results["hybrid+rerank"] = evaluate_retrieval(Reranked(rag.open(index, settings)), qs)
    return results


def main() -> None:
    results = {"bundled": measure(ROOT / "indexes" / "homeowner", ROOT / "corpora" / "homeowner-questions.jsonl")}
    with shared_eval_index() as index:
        if index is not None:
            results["shared_eval_cfpb"] = measure(index, SHARED_EVAL / "qa_dev.jsonl")
    for corpus, modes in results.items():
        for mode, metrics in modes.items():
            print(f"{corpus:>18} {mode:>13}: {metrics['overall']}")
    write_results("retrieval", results)


if __name__ == "__main__":
    main()
