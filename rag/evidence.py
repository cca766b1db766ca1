"""How likely is it that the retrieved passages answer the question? A calibrated estimate.

Three features, each cheap and independent of the generator: the best cosine
similarity, the mean over the top three, and how many of the question's content
words appear in those passages (a question about "Cook County" is not answered
by passages that never name it). A logistic model maps them to a probability; its
weights are fitted on labelled questions (`rag calibrate`) and stored as JSON.

One check is a hard rule, not a weight: a question that names something — a
state, a county, a lender, a program — is about that thing, and passages that
never name it cannot answer it, however close they are in topic ("the FHA loan
limit for Los Angeles County" against passages on FHA loan limits in general).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import ConfigError
from .logistic import fit_logistic, read_model, sigmoid
from .policy import AnsweringPolicy
from .text import content_words, share_found
from .types import Hit

FEATURES = ("top_similarity", "mean_similarity_top3", "question_coverage")
DEFAULT_MODEL = Path(__file__).resolve().parent / "evidence.json"


def features(question: str, hits: Sequence[Hit]) -> list[float]:
    if not hits:
        return [0.0, 0.0, 0.0]
    top = hits[:3]
    asked = content_words(question)
    seen = set().union(*(content_words(h.labelled_text) for h in top))
    coverage = share_found(asked, seen, if_empty=1.0)
    return [hits[0].similarity, float(np.mean([h.similarity for h in top])), coverage]


def unmatched_names(question: str, hits: Sequence[Hit], policy: AnsweringPolicy = AnsweringPolicy()) -> list[str]:
    """The names in the question (the policy's name rule: a capitalised word inside a sentence, not
    part of a hyphenated or all-capitals term — passages often spell acronyms out) that none of the
    passages contains (as a word, in any case). A name that is also a stop word ("Will") has no
    content words and is never unmatched."""
    names = [m.group(1) for m in policy.regex("name").finditer(question) if m.group(1) not in policy.not_names]
    if not names:
        return []
    shown = set().union(*(content_words(h.labelled_text) for h in hits))
    return [name for name in dict.fromkeys(names) if not content_words(name) <= shown]


@dataclass
class EvidenceModel:
    weights: list[float]  # one per feature, in FEATURES' order
    bias: float
    threshold: float  # answer when the probability reaches it
    fitted_on: dict = field(default_factory=dict)

    def probability(self, question: str, hits: Sequence[Hit]) -> float:
        z = self.bias + sum(w * x for w, x in zip(self.weights, features(question, hits)))
        return 1.0 / (1.0 + math.exp(-z))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"features": FEATURES, **asdict(self)}, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path = "") -> "EvidenceModel":
        """The model at `path` (setting generation.evidence_model), or the bundled one when empty."""
        weights, bias, data = read_model(path, DEFAULT_MODEL, "generation.evidence_model", "rag calibrate",
                                         "evidence model", FEATURES)
        try:
            return cls(weights, bias, float(data.get("threshold", 0.5)), data.get("fitted_on", {}))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"generation.evidence_model: {path or DEFAULT_MODEL} is not an evidence model "
                              f"(threshold: {exc})") from None


def fit(rows: list[list[float]], labels: list[int], max_false_refusal: float = 0.1,
        l2: float = 0.01, steps: int = 5000) -> EvidenceModel:
    """Logistic regression (`rag.logistic`), then the highest threshold whose
    false-refusal rate on the answerable rows stays within `max_false_refusal`."""
    x = np.asarray(rows, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    weights, bias = fit_logistic(x, y, l2=l2, steps=steps)
    scores = sigmoid(x @ weights + bias)
    answerable = np.sort(scores[y == 1])
    cut = answerable[int(math.floor(max_false_refusal * len(answerable)))] if len(answerable) else 0.5
    threshold = float(min(0.5, cut - 1e-6))
    refused = scores < threshold
    return EvidenceModel(
        weights=[round(float(v), 5) for v in weights], bias=round(float(bias), 5), threshold=round(threshold, 5),
        fitted_on={"answerable": int(y.sum()), "unanswerable": int(len(y) - y.sum()),
                   "false_refusal": round(float(refused[y == 1].mean()), 4) if y.sum() else None,
                   "unanswerable_refused": round(float(refused[y == 0].mean()), 4) if len(y) > y.sum() else None},
    )


def calibrate(search, questions, max_false_refusal: float = 0.1, k: int = 4) -> EvidenceModel:
    """Fit the evidence model on labelled questions (answerable ones have gold documents)."""
    rows = [features(q.question, search(q.question, k)) for q in questions]
    return fit(rows, [int(q.answerable) for q in questions], max_false_refusal)
