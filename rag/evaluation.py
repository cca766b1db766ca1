"""Evaluation on a question file (the qa_dev.jsonl format): retrieval metrics per kind and overall.

Each line: question, answers (gold phrases; [] when unanswerable), gold_docs
(paths relative to the corpus folder), kind. A hit matches a gold document when
its source path ends with that relative path.
"""
from __future__ import annotations

import json
import re
import time
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
    return {"overall": retrieval_metrics(ranks),
            "by_kind": {kind: retrieval_metrics(r) for kind, r in sorted(by_kind.items())}}


_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_NUMBER_WORDS.update({"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "ninety": "90", "hundred": "100"})


def lenient(text: str) -> str:
    """Lower case, straight quotes, no punctuation, number words as digits, "%" as "percent"."""
    text = text.lower().replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    text = text.replace("%", " percent ").replace("-", " ").replace("–", " ").replace("—", " ")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    words = re.findall(r"[a-z0-9$.']+", text)
    return " ".join(_NUMBER_WORDS.get(w.strip(".'"), w.strip(".'")) for w in words if w.strip(".'"))


def phrases_found(answer: str, phrases: list[str]) -> float:
    if not phrases:
        return 0.0
    said = f" {lenient(answer)} "
    return sum(1 for p in phrases if f" {lenient(p)} " in said) / len(phrases)


@dataclass
class AnswerRecord:
    id: str
    kind: str
    answerable: bool
    refused: bool
    correct: bool  # every gold phrase present
    phrase_recall: float
    cited: int
    cited_gold: int
    retrieval_rank: int | None
    seconds: float
    text: str


def evaluate_answers(ask, questions: list[Question], progress=None) -> tuple[dict, list[AnswerRecord]]:
    """Ask every question; score answers, citations and refusals per kind and overall."""
    records = []
    for number, q in enumerate(questions, start=1):
        started = time.perf_counter()
        answer = ask(q.question)
        seconds = time.perf_counter() - started
        recall = phrases_found(answer.text, q.answers) if q.answerable and not answer.refused else 0.0
        records.append(AnswerRecord(
            id=q.id, kind=q.kind, answerable=q.answerable, refused=answer.refused, correct=recall == 1.0,
            phrase_recall=round(recall, 3), cited=len(answer.citations),
            cited_gold=sum(1 for c in answer.citations if is_gold(c.source, q.gold_docs)),
            retrieval_rank=first_gold_rank(answer.hits, q.gold_docs) if q.answerable else None,
            seconds=round(seconds, 2), text=answer.text))
        if progress:
            progress(number, len(questions), records[-1])
    by_kind = {kind: answer_metrics([r for r in records if r.kind == kind])
               for kind in sorted({r.kind for r in records})}
    return {"overall": answer_metrics(records), "by_kind": by_kind}, records


def answer_metrics(records: list[AnswerRecord]) -> dict:
    answerable = [r for r in records if r.answerable]
    unanswerable = [r for r in records if not r.answerable]
    cited = sum(r.cited for r in answerable)

    def share(part, whole):
        return round(part / whole, 4) if whole else None

    return {
        "n": len(records),
        "correct": share(sum(r.correct for r in answerable), len(answerable)),
        "phrase_recall": share(sum(r.phrase_recall for r in answerable), len(answerable)),
        "citation_precision": share(sum(r.cited_gold for r in answerable), cited),
        "unanswerable_refused": share(sum(r.refused for r in unanswerable), len(unanswerable)),
        "false_refusal": share(sum(r.refused for r in answerable), len(answerable)),
        "hit@5": share(sum(1 for r in answerable if r.retrieval_rank and r.retrieval_rank <= 5), len(answerable)),
        "seconds_per_question": share(sum(r.seconds for r in records), len(records)),
    }
