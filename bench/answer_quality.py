"""Answer quality: correctness, citation precision, refusals — on the bundled questions and, when
present, ../shared/eval; with the shipped adapter and with the base model (same pipeline, same questions).
Only metrics are written (answers quoting the CFPB corpus stay out of the repo).
Run: python bench/answer_quality.py
"""
from __future__ import annotations

from pathlib import Path

import rag
from rag.evaluation import evaluate_answers, read_questions

from common import ROOT, SHARED_EVAL, shared_eval_index, write_results


def measure(index: Path, questions: Path) -> dict:
    """Metrics per model: "adapter" (the default, when one ships) and "base"."""
    settings = rag.Settings.load(env={})
    models = {"adapter": True, "base": False} if settings.generation.adapter else {"base": False}
    qs = read_questions(questions)
    return {name: evaluate_answers(rag.open(index, settings, use_adapter=use_adapter).ask, qs)[0]
            for name, use_adapter in models.items()}


def main() -> None:
    results = {"bundled": measure(ROOT / "indexes" / "homeowner", ROOT / "corpora" / "homeowner-questions.jsonl")}
    with shared_eval_index() as index:
        if index is not None:
            results["shared_eval_cfpb"] = measure(index, SHARED_EVAL / "qa_dev.jsonl")
    for corpus, models in results.items():
        for name, metrics in models.items():
            print(f"{corpus} ({name}): {metrics['overall']}")
    write_results("answers", results)


if __name__ == "__main__":
    main()
