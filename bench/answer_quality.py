"""Answer quality: correctness, citation precision, refusals — on the bundled questions and, when
present, ../shared/eval. Only metrics are written (answers quoting the CFPB corpus stay out of the repo).
Run: python bench/answer_quality.py
"""
from __future__ import annotations

from pathlib import Path

import rag
from rag.evaluation import evaluate_answers, read_questions

from common import ROOT, SHARED_EVAL, shared_eval_index, write_results


def measure(index: Path, questions: Path) -> dict:
    kb = rag.open(index, rag.Settings.load(env={}))
    metrics, _ = evaluate_answers(kb.ask, read_questions(questions))
    return metrics


def main() -> None:
    results = {"bundled": measure(ROOT / "indexes" / "homeowner", ROOT / "corpora" / "homeowner-questions.jsonl")}
    with shared_eval_index() as index:
        if index is not None:
            results["shared_eval_cfpb"] = measure(index, SHARED_EVAL / "qa_dev.jsonl")
    for corpus, metrics in results.items():
        print(f"{corpus}: {metrics['overall']}")
    write_results("answers", results)


if __name__ == "__main__":
    main()
