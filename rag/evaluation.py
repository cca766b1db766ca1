"""Evaluation on a question file (the qa_dev.jsonl format): retrieval metrics per kind and overall.

Each line: question, answers (gold phrases; [] when unanswerable), gold_docs
(paths relative to the corpus folder), kind. A hit matches a gold document when
its source path ends with that relative path.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import RagError
from .types import Hit

RETRIEVAL_KS = (1, 3, 5)


@dataclass
class Question:
    id: str
    question: str
    answers: list[str]
    gold_docs: list[str]
    kind: str

    @property
    def answerable(self) -> bool:
        return bool(self.gold_docs)


def read_questions(path: str | Path) -> list[Question]:
    path = Path(path)
    questions = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise RagError(f"cannot read question file {path}: {exc.strerror or exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            questions.append(Question(str(data.get("id", number)), data["question"], list(data.get("answers", [])),
                                      list(data.get("gold_docs", [])), data.get("kind", "unknown")))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise RagError(f"{path}:{number}: not a question line ({exc}); expected JSON with 'question'") from None
    return questions


def is_gold(source: str, gold_docs: list[str]) -> bool:
    parts = Path(source).parts
    return any(parts[-len(Path(g).parts):] == Path(g).parts for g in gold_docs)


def first_gold_rank(hits: list[Hit], gold_docs: list[str]) -> int | None:
    for rank, hit in enumerate(hits, start=1):
        if is_gold(hit.source, gold_docs) or any(is_gold(s, gold_docs) for s in hit.also_in):
            return rank
    return None


def retrieval_metrics(ranks: list[int | None]) -> dict:
    n = len(ranks)
    if not n:
        return {"n": 0}
    metrics = {f"hit@{k}": sum(1 for r in ranks if r is not None and r <= k) / n for k in RETRIEVAL_KS}
    metrics["mrr"] = sum(1 / r for r in ranks if r is not None and r <= max(RETRIEVAL_KS)) / n
    metrics["n"] = n
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}


def evaluate_retrieval(kb, questions: list[Question], k: int = max(RETRIEVAL_KS)) -> dict:
    """hit@1/3/5 and MRR@5 over answerable questions, overall and per kind."""
    by_kind: dict[str, list[int | None]] = {}
    ranks = []
    for q in questions:
        if not q.answerable:
            continue
        rank = first_gold_rank(kb.search(q.question, k=k), q.gold_docs)
        ranks.append(rank)
        by_kind.setdefault(q.kind, []).append(rank)
    return {"overall": retrieval_metrics(ranks), "by_kind": {kind: retrieval_metrics(r) for kind, r in sorted(by_kind.items())}}
