"""Evaluation on a question file (the qa_dev.jsonl format): retrieval and answer metrics per kind and overall.

Each line: question, answers (gold phrases; [] when unanswerable), gold_docs
(paths relative to the corpus folder), kind, and optionally split ("tune" or "test").
A hit matches a gold document when its source path ends with that relative path.

Splits: a question file is split once into `tune` (what choices are made on) and a
frozen `test` (run only to report); `assign_splits` does it by a fixed seed, stratified
by kind, and `split_fingerprint` is the hash a test keeps so the test split cannot
drift. Every rate comes with a 95 % bootstrap interval over questions, and an A/B run
gets an interval for the paired difference: a one-question difference shows as noise.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from .errors import RagError
from .text import first_sentence
from .types import Hit

SPLITS = ("tune", "test")

RETRIEVAL_KS = (1, 3, 5)


@dataclass
class Question:
    id: str
    question: str
    answers: list[str]
    gold_docs: list[str]
    kind: str
    split: str = ""  # "tune", "test", or "" when the file is not split

    @property
    def answerable(self) -> bool:
        return bool(self.gold_docs)


def normal_question(text: str) -> str:
    """A question as evaluation sets are compared with training data: lower-case words and digits only."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def question_lines(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, JSON object) for every non-blank line of a question file; a RagError naming the file
    and line for one that cannot be read or is not a JSON object with a 'question'."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise RagError(f"cannot read question file {path}: {exc.strerror or exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            data["question"]
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise RagError(f"{path}:{number}: not a question line ({exc}); expected JSON with 'question'") from None
        yield number, data


def read_questions(path: str | Path) -> list[Question]:
    questions = []
    for number, data in question_lines(path):
        try:
            questions.append(Question(str(data.get("id", number)), data["question"], list(data.get("answers", [])),
                                      list(data.get("gold_docs", [])), data.get("kind", "unknown"),
                                      str(data.get("split", ""))))
        except (TypeError, AttributeError) as exc:
            raise RagError(f"{path}:{number}: not a question line ({exc}); expected JSON with 'question'") from None
        q = questions[-1]
        if not isinstance(q.question, str) or not all(isinstance(x, str) for x in (*q.answers, *q.gold_docs)) \
                or not all(isinstance(data.get(f, []), list) for f in ("answers", "gold_docs")):
            raise RagError(f"{path}:{number}: 'question' must be text and 'answers' and 'gold_docs' lists of text")
        if questions[-1].split not in ("", *SPLITS):
            raise RagError(f"{path}:{number}: split must be one of {', '.join(SPLITS)}, got {questions[-1].split!r}")
    return questions


def select_split(questions: list[Question], split: str) -> list[Question]:
    """The questions of one split ("all" keeps every question)."""
    if split == "all":
        return questions
    if split not in SPLITS:
        raise RagError(f"--split must be one of all, {', '.join(SPLITS)}; got {split!r}")
    chosen = [q for q in questions if q.split == split]
    if not chosen:
        raise RagError(f"no question in the file belongs to the '{split}' split; split it first "
                       "(python bench/questions/split.py FILE) or use --split all")
    return chosen


def assign_splits(questions: Sequence[Question], seed: int, test_share: float) -> dict[str, str]:
    """A split for every question that has none: within each kind, questions ordered by a seeded hash of their
    id, and the first ones go to `test` until the kind's test share reaches `test_share`. Questions that already
    have a split keep it, so adding questions never moves an old one."""
    splits: dict[str, str] = {q.id: q.split for q in questions if q.split}
    for kind in sorted({q.kind for q in questions}):
        of_kind = [q for q in questions if q.kind == kind]
        in_test = sum(1 for q in of_kind if q.split == "test")
        target = math.ceil(test_share * len(of_kind))
        for q in sorted((q for q in of_kind if not q.split), key=lambda q: seeded_hash(seed, q.id)):
            splits[q.id] = "test" if in_test < target else "tune"
            in_test += splits[q.id] == "test"
    return splits


def split_fingerprint(questions: Sequence[Question], split: str = "test") -> str:
    """A hash of one split's questions (ids, wording, gold phrases and documents): it changes if the split does."""
    rows = sorted((q.id, q.question, q.answers, q.gold_docs, q.kind) for q in questions if q.split == split)
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode("utf-8")).hexdigest()


def seeded_hash(seed: int, text: str) -> str:
    return hashlib.sha256(f"{seed}:{text}".encode("utf-8")).hexdigest()


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
    """hit@1/3/5 and MRR@5 over answerable questions, overall and per kind; for an index stored as fp16 or sq8,
    also the recall@10 of its search against exact fp32 vectors."""
    by_kind: dict[str, list[int | None]] = {}
    ranks = []
    for q in questions:
        if not q.answerable:
            continue
        rank = first_gold_rank(kb.search(q.question, k=k), q.gold_docs)
        ranks.append(rank)
        by_kind.setdefault(q.kind, []).append(rank)
    report = {"overall": retrieval_metrics(ranks),
              "by_kind": {kind: retrieval_metrics(r) for kind, r in sorted(by_kind.items())}}
    if kb.snapshot.vectors.storage != "fp32":  # what the compact storage costs: recall of the exact fp32 top 10
        report["recall_at_10_vs_fp32"] = kb.snapshot.storage_recall(kb.embedder, [q.question for q in questions])
    return report


_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_NUMBER_WORDS.update({"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "ninety": "90", "hundred": "100"})


def lenient(text: str) -> str:
    """Lower case, straight quotes, no punctuation, number words as digits, "%" as "percent", "$" apart."""
    text = text.lower().replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    text = text.replace("%", " percent ").replace("-", " ").replace("–", " ").replace("—", " ")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    text = re.sub(r"\$\s*(?=\d)", "$ ", text)  # "$59.01" and a PDF's "$ 59.01" read alike
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
    split: str = ""
    lead_correct: bool = False  # every gold phrase in the answer's first sentence
    words: int = 0




def evaluate_answers(ask, questions: list[Question], progress=None) -> tuple[dict, list[AnswerRecord]]:
    """Ask every question; score answers, citations and refusals per kind, per split and overall."""
    records = []
    for number, q in enumerate(questions, start=1):
        started = time.perf_counter()
        answer = ask(q.question)
        seconds = time.perf_counter() - started
        recall = phrases_found(answer.text, q.answers) if q.answerable and not answer.refused else 0.0
        lead = phrases_found(first_sentence(answer.text), q.answers) if recall == 1.0 else 0.0
        records.append(AnswerRecord(
            id=q.id, kind=q.kind, answerable=q.answerable, refused=answer.refused, correct=recall == 1.0,
            phrase_recall=round(recall, 3), cited=len(answer.citations),
            cited_gold=sum(1 for c in answer.citations if is_gold(c.source, q.gold_docs)),
            retrieval_rank=first_gold_rank(answer.hits, q.gold_docs) if q.answerable else None,
            seconds=round(seconds, 2), text=answer.text, split=q.split, lead_correct=lead == 1.0,
            words=0 if answer.refused else len(answer.text.split())))
        if progress:
            progress(number, len(questions), records[-1])
    return summarize(records), records


def summarize(records: list[AnswerRecord]) -> dict:
    """Metrics per kind and overall, with bootstrap intervals; per split too when the questions are split."""
    by_kind = {kind: answer_metrics([r for r in records if r.kind == kind])
               for kind in sorted({r.kind for r in records})}
    result = {"overall": answer_metrics(records), "intervals": bootstrap_intervals(records), "by_kind": by_kind}
    splits = sorted({r.split for r in records if r.split})
    if splits:
        result["by_split"] = {split: {"overall": answer_metrics(part := [r for r in records if r.split == split]),
                                      "intervals": bootstrap_intervals(part)} for split in splits}
    return result


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
        "lead_correct": share(sum(r.lead_correct for r in answerable), len(answerable)),
        "mean_words": _mean([r.words for r in records if not r.refused]),
        "hit@5": share(sum(1 for r in answerable if r.retrieval_rank and r.retrieval_rank <= 5), len(answerable)),
        "seconds_per_question": share(sum(r.seconds for r in records), len(records)),
    }


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


# Rates with an interval: each is (numerator, denominator) summed over one question's record, so a resample of
# questions gives the rate over that resample (citation precision is a ratio of sums, not a mean of ratios).
_RATES: dict[str, Callable[[AnswerRecord], tuple[float, float]]] = {
    "correct": lambda r: (r.correct, 1) if r.answerable else (0, 0),
    "citation_precision": lambda r: (r.cited_gold, r.cited) if r.answerable else (0, 0),
    "unanswerable_refused": lambda r: (0, 0) if r.answerable else (r.refused, 1),
    "false_refusal": lambda r: (r.refused, 1) if r.answerable else (0, 0),
    "lead_correct": lambda r: (r.lead_correct, 1) if r.answerable else (0, 0),
}
BOOTSTRAP_RESAMPLES = 2000  # enough for the 2.5th/97.5th percentiles to settle to about ±0.01


def bootstrap_intervals(records: list[AnswerRecord], other: list[AnswerRecord] | None = None,
                        resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> dict[str, list[float] | None]:
    """95 % percentile-bootstrap intervals of each rate, resampling questions. With `other` (the same questions
    answered by another configuration, in the same order) the interval is of the paired difference
    records − other: when it contains 0, the two configurations are not distinguishable on these questions."""
    if other is not None and [r.id for r in other] != [r.id for r in records]:
        raise ValueError("paired bootstrap needs the same questions in the same order")
    rng = random.Random(seed)
    n = len(records)
    intervals: dict[str, list[float] | None] = {}
    for name, parts in _RATES.items():
        mine = [parts(r) for r in records]
        theirs = [parts(r) for r in other] if other is not None else None
        if not n or not sum(d for _, d in mine):
            intervals[name] = None
            continue
        values = []
        for _ in range(resamples):
            picks = [rng.randrange(n) for _ in range(n)]
            value = _rate(mine, picks)
            if theirs is not None:
                base = _rate(theirs, picks)
                value = None if value is None or base is None else value - base
            if value is not None:
                values.append(value)
        values.sort()
        intervals[name] = [round(values[int(0.025 * (len(values) - 1))], 4),
                           round(values[int(0.975 * (len(values) - 1))], 4)] if values else None
    return intervals


def _rate(parts: list[tuple[float, float]], picks: list[int]) -> float | None:
    numerator = sum(parts[i][0] for i in picks)
    denominator = sum(parts[i][1] for i in picks)
    return numerator / denominator if denominator else None
