"""Fusion: one ranking from the dense and the lexical candidates.

Retrieval finds candidates two ways — FAISS inner product (paraphrases) and BM25 (exact terms) — and this
stage orders their union. Two rankers:

- `ReciprocalRankFusion` reads ranks only: it needs no calibration between the two scores, but it throws
  their sizes away. A passage BM25 ranks low sinks even when it is by far the closest in meaning ("When
  can I stop paying PMI?": the sections on cancelling at 80 % and 78 % have the highest cosines and
  ranked 8th and 9th, behind every section that repeats "PMI" and "paying").
- `LearnedRanker` scores each candidate from five features — its cosine, its BM25 score as a share of the
  best candidate's, the share of the question's content words its text holds, the share its title and
  headings hold, and its length — with weights fitted pairwise (an answering passage against the others
  of the same question) on the project's training-side questions (`rag tune-ranker`; never an evaluation
  file). Stored as JSON beside the evidence model (plain numbers, never a pickle).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import RagError
from .evaluation import normal_question, phrases_found, question_lines
from .logistic import fit_logistic, read_model
from .text import content_words, mostly_in, share_found

FEATURES = ("similarity", "lexical_share", "question_coverage", "heading_coverage", "log_words")
DEFAULT_RANKER = Path(__file__).resolve().parent / "ranker.json"


@dataclass(frozen=True)
class Candidate:
    """A passage found by either search, with what each search said about it."""

    chunk_id: int
    similarity: float  # cosine with the question (the vectors are normalised)
    lexical: float  # BM25 score; 0 when BM25 did not find it
    dense_rank: int | None  # 0-based; None when dense search did not return it
    lexical_rank: int | None
    text: str = ""  # the passage, and its title and section path: read only by the learned ranker
    heading: str = ""


def features(question: str, candidates: Sequence[Candidate]) -> np.ndarray:
    """One row of FEATURES per candidate."""
    asked = content_words(question)
    best_lexical = max((c.lexical for c in candidates), default=0.0)
    return np.array([[
        c.similarity,
        c.lexical / best_lexical if best_lexical > 0 else 0.0,
        share_found(asked, content_words(f"{c.heading} {c.text}")),
        share_found(asked, content_words(c.heading)),
        math.log1p(len(c.text.split())),
    ] for c in candidates], dtype=np.float64).reshape(len(candidates), len(FEATURES))


class ReciprocalRankFusion:
    """Sum of weight / (rrf_k + rank) over the two rankings."""

    needs_text = False

    def __init__(self, rrf_k: int = 60, lexical_weight: float = 1.0):
        self.rrf_k, self.lexical_weight = rrf_k, lexical_weight

    def scores(self, question: str, candidates: Sequence[Candidate]) -> list[float]:
        def term(rank: int | None, weight: float) -> float:
            return 0.0 if rank is None else weight / (self.rrf_k + rank + 1)

        return [term(c.dense_rank, 1.0) + term(c.lexical_rank, self.lexical_weight) for c in candidates]


@dataclass
class LearnedRanker:
    """A linear score over FEATURES; only the order it gives is used, so it has no bias."""

    weights: list[float]
    fitted_on: dict = field(default_factory=dict)
    needs_text = True

    def scores(self, question: str, candidates: Sequence[Candidate]) -> list[float]:
        if not candidates:
            return []
        return [float(s) for s in features(question, candidates) @ np.asarray(self.weights)]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"features": list(FEATURES), "bias": 0.0, **asdict(self)}, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path = "") -> "LearnedRanker":
        """The ranker at `path` (setting retrieval.ranker), or the bundled one when empty."""
        weights, _, data = read_model(path, DEFAULT_RANKER, "retrieval.ranker", "rag tune-ranker", "ranker",
                                      FEATURES)
        return cls(weights, data.get("fitted_on", {}))


def order(question: str, candidates: Sequence[Candidate], ranker) -> list[tuple[Candidate, float]]:
    """The candidates best first, with their scores; ties keep the dense order, then chunk id."""
    scored = zip(candidates, ranker.scores(question, candidates))
    return sorted(scored, key=lambda cs: (-cs[1], cs[0].dense_rank if cs[0].dense_rank is not None else 1 << 30,
                                          cs[0].chunk_id))


@dataclass(frozen=True)
class RankingQuestion:
    """A training-side question and how to tell a passage that answers it."""

    question: str
    support: str = ""  # a sentence that answers it (training pairs): a passage holding it answers
    answers: tuple[str, ...] = ()  # short phrases (question files): a passage holding every one answers

    def answered_by(self, text: str) -> bool:
        from .selection.data import SUPPORT_SHARE  # one notion of "holds the supporting sentence"

        if self.support:
            return mostly_in(self.support, text, SUPPORT_SHARE)
        return bool(self.answers) and phrases_found(text, list(self.answers)) == 1.0


def read_ranking_questions(path: str | Path, evaluation: set[str] = frozenset()) -> list[RankingQuestion]:
    """Answerable questions from a training pair file (question, support) or a question file (question,
    answers); unanswerable ones are skipped. A split evaluation file, or a question found in one
    (`evaluation`, compared as `normal_question`s), is refused: the ranker is judged on those."""
    evaluation = {normal_question(q) for q in evaluation}
    out = []
    for number, data in question_lines(path):
        question = data.get("question")
        if not isinstance(question, str):
            raise RagError(f"{path}:{number}: 'question' must be text")
        if data.get("split") or normal_question(question) in evaluation:
            raise RagError(f"{path}:{number}: an evaluation question; fit the ranker on training-side questions "
                           "only (corpora/training, corpora/calibration)")
        support, answers = data.get("support") or "", tuple(data.get("answers") or ())
        if support or (answers and data.get("gold_docs")):
            out.append(RankingQuestion(question, support, answers))
    return out


def ranking_examples(questions: Sequence[RankingQuestion], candidates) -> list[RankingExample]:
    """Each question's candidates (`candidates(question)`: as retrieval finds them, with their text), labelled."""
    examples = []
    for q in questions:
        found = tuple(candidates(q.question))
        examples.append(RankingExample(q.question, found, tuple(q.answered_by(f"{c.heading} {c.text}")
                                                                 for c in found)))
    return examples


@dataclass(frozen=True)
class RankingExample:
    """One training question's candidates, and which of them answer it."""

    question: str
    candidates: tuple[Candidate, ...]
    answering: tuple[bool, ...]


def fit_ranker(examples: Sequence[RankingExample], l2: float = 0.01) -> LearnedRanker:
    """Pairwise logistic regression: for every question, each answering candidate against each other one
    (both orders), so the weights learn what puts the answering passage first — not a probability."""
    rows: list[np.ndarray] = []
    for example in examples:
        x = features(example.question, example.candidates)
        good = [i for i, a in enumerate(example.answering) if a]
        bad = [i for i, a in enumerate(example.answering) if not a]
        rows += [x[g] - x[b] for g in good for b in bad]
    if not rows:
        raise ValueError("no training question has both an answering and another candidate")
    differences = np.asarray(rows)
    weights, _ = fit_logistic(np.vstack([differences, -differences]),
                              [1] * len(differences) + [0] * len(differences), l2=l2)
    used = [e for e in examples if any(e.answering) and not all(e.answering)]
    return LearnedRanker([round(float(w), 5) for w in weights],
                         {"questions": len(used), "pairs": len(differences), "l2": l2})
