"""How likely is it that the retrieved passages answer the question? A calibrated estimate.

Cheap signals, each independent of the generator, read from retrieval's top k passages:
- how close they are: the best cosine similarity and the mean over the top three;
- how much of the question they cover: the share of its content words in the top three, and how many
  names it asks about (a state, a county, a lender, a program) that no passage contains;
- whether a question that asks for a figure gets one: many unanswerable questions are near-topic — the
  documents discuss the fee, the rate, the program, but not the amount asked — so "asks how much / what
  percent / how long / how many" and "none of the sentences closest to the question gives such a figure"
  are features of their own;
- whether it asks for something no fixed document set holds (today's rate, this year's average);
- optionally (`lead_score`), the hand-weighted score of the best sentence in the lead passages — the
  sentence an answer would open with. It needs sentence embeddings, so only a gate given `embed` reads it.

A logistic model maps them to a probability; its weights are fitted on labelled training-side questions
(`rag calibrate`: corpora/calibration and the training pairs, never an evaluation file) and stored as JSON
with the features it reads, so a model fitted on other features is rejected on load.

One check is also a hard rule (in the gate), not only a weight: a question that names something is about
that thing, and passages that never name it cannot answer it, however close they are in topic ("the FHA
loan limit for Los Angeles County" against passages on FHA loan limits in general).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import ConfigError, RagError
from .evaluation import question_lines
from .highlighting import highlight, statements
from .logistic import fit_logistic, read_model, sigmoid
from .policy import AnsweringPolicy
from .text import content_words, share_found
from .types import Hit

FEATURES = ("top_similarity", "mean_similarity_top3", "question_coverage", "unmatched_names", "figure_asked",
            "figure_missing", "asks_current")
LEAD_SCORE = "lead_score"  # optional, needs embeddings: a model reads either FEATURES or FEATURES + (LEAD_SCORE,)
KNOWN_FEATURE_SETS = (FEATURES, FEATURES + (LEAD_SCORE,))
DEFAULT_MODEL = Path(__file__).resolve().parent / "evidence.json"
_DEFAULT_POLICY = AnsweringPolicy()

# What kind of figure a question asks for, and what such a figure looks like in a sentence; the first kind that
# matches the question counts. These define features the shipped weights were fitted on, so they are constants
# here, not settings: changing one means running `rag calibrate` again. (English, like the policy's patterns.)
_NUMBER_WORDS = r"\d+|one|two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|thirty|sixty|ninety"
FIGURE_KINDS: tuple[tuple[str, re.Pattern, re.Pattern], ...] = (
    ("share", re.compile(r"(?i)\bwhat (?:percent|percentage|share|portion|fraction)\b|\bhow much of\b"
                         r"|\bwhat (?:\w+ ){0,3}(?:rate|percent|percentage)\b|\bby (?:how much|what percentage)\b"),
     re.compile(r"\d\s?%|\bpercent")),
    ("money", re.compile(r"(?i)\bhow much\b|\bwhat (?:does|do|did|will|would|could) (?:\w+ ){0,6}"
                         r"(?:cost|charge|run)\b|\bwhat(?:'s| is| are| was)(?: the| a| my)? (?:\w+ ){0,3}"
                         r"(?:fee|cost|price|premium|charge|amount|penalty)s?\b"),
     re.compile(r"\$\s?\d")),
    ("time", re.compile(r"(?i)\bhow (?:long|soon|quickly|fast|often)\b|\bhow many (?:\w+ )?(?:days|weeks|months"
                        r"|years|hours)\b|\bwithin how\b|\bwhat year\b|\bwhen (?:does|do|did|is|was|will|must|can)\b"),
     re.compile(rf"(?i)\b(?:{_NUMBER_WORDS})[- ](?:business )?(?:day|week|month|year|hour)s?\b|\b(?:once|twice)\b"
                r"|\b(?:annual|annually|yearly|monthly|weekly|daily)\b|\bevery (?:\w+ )?(?:day|week|month|year)s?\b")),
    ("number", re.compile(r"(?i)\bhow many\b|\b(?:minimum|maximum|limit|most|least|highest|lowest)\b"),
     re.compile(rf"(?i)\d|\b(?:{_NUMBER_WORDS})\b")),
)
ASKS_CURRENT = re.compile(r"(?i)\b(today|right now|this (week|month|year)|currently|current|latest|these days"
                          r"|nowadays|last year|average)\b")
CLOSEST_SENTENCES = 3  # the sentences sharing most of the question's words, where an asked figure should be
_QUESTION_MARK = re.compile(r"\?[\"”’)]*$")


def figure_kind(question: str) -> re.Pattern | None:
    """The pattern of the figure the question asks for (a share, an amount of money, a time, a number), or None."""
    return next((gives for _, asks, gives in FIGURE_KINDS if asks.search(question)), None)


def signals(question: str, hits: Sequence[Hit], policy: AnsweringPolicy = _DEFAULT_POLICY,
            embed=None) -> dict[str, float]:
    """Every feature by name (`lead_score` only with `embed`, which gives normalised vectors)."""
    top = hits[:3]
    asked = content_words(question)
    seen = set().union(*(content_words(h.labelled_text) for h in top)) if top else set()
    gives = figure_kind(question)
    sentences = [(heading, s) for hit in hits for heading, s in statements(hit, policy)
                 if not _QUESTION_MARK.search(s)]
    overlap = [share_found(asked, content_words(f"{heading} {s}")) for heading, s in sentences]
    closest = sorted(range(len(sentences)), key=lambda i: -overlap[i])[:CLOSEST_SENTENCES]
    found = gives is None or any(gives.search(sentences[i][1]) for i in closest)
    out = {
        "top_similarity": hits[0].similarity if hits else 0.0,
        "mean_similarity_top3": float(np.mean([h.similarity for h in top])) if top else 0.0,
        "question_coverage": share_found(asked, seen, if_empty=1.0) if hits else 0.0,
        "unmatched_names": float(len(unmatched_names(question, hits, policy))),
        "figure_asked": float(gives is not None),
        "figure_missing": float(not found),
        "asks_current": float(bool(ASKS_CURRENT.search(question))),
    }
    if embed is not None:
        out[LEAD_SCORE] = lead_score(question, hits, embed, policy)
    return out


def lead_score(question: str, hits: Sequence[Hit], embed, policy: AnsweringPolicy = _DEFAULT_POLICY) -> float:
    """The hand-weighted score of the best sentence in the top `policy.lead_passages` passages: the score of
    the sentence an answer leads with (`Answerer.lead` without the selector); 0 when there is none."""
    key = highlight(question, list(hits[:policy.lead_passages]), embed, policy)
    return key[0].score if key else 0.0


def closest_passages(retrieved: Sequence[Hit], k: int, policy: AnsweringPolicy = _DEFAULT_POLICY) -> list[Hit]:
    """What the estimate reads: the `k` passages closest in meaning (cosine) among retrieval's first
    `policy.evidence_pool`. Read in cosine order, its features mean the same whichever ranker ordered
    retrieval: a ranker that favours passages repeating the question's words would otherwise raise
    coverage for near-topic questions too, and move the calibration."""
    return sorted(retrieved[:policy.evidence_pool], key=lambda h: -h.similarity)[:k]


def passages_read(search, question: str, k: int, candidates: int,
                  policy: AnsweringPolicy = _DEFAULT_POLICY) -> list[Hit]:
    """What the gate's estimate reads for `question`: one search as wide as the gate's, then `closest_passages`."""
    return closest_passages(search(question, max(candidates, policy.evidence_pool)), k, policy)


def features(question: str, hits: Sequence[Hit], names: Sequence[str] = FEATURES,
             policy: AnsweringPolicy = _DEFAULT_POLICY, embed=None) -> list[float]:
    found = signals(question, hits, policy, embed if LEAD_SCORE in names else None)
    return [found[name] for name in names]


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
    weights: list[float]  # one per feature, in `features`' order
    bias: float
    threshold: float  # answer when the probability reaches it
    fitted_on: dict = field(default_factory=dict)
    features: tuple[str, ...] = FEATURES

    @property
    def needs_embed(self) -> bool:
        return LEAD_SCORE in self.features

    def probability(self, question: str, hits: Sequence[Hit], policy: AnsweringPolicy = _DEFAULT_POLICY,
                    embed=None) -> float:
        if self.needs_embed and embed is None:
            raise ConfigError("generation.evidence_model: this evidence model reads the lead sentence's score "
                              "and needs the embedder; use one calibrated without --lead-score")
        z = self.bias + sum(w * x for w, x in zip(self.weights, features(question, hits, self.features, policy,
                                                                         embed)))
        return 1.0 / (1.0 + math.exp(-z))

    def save(self, path: Path) -> None:
        data = asdict(self)
        data.pop("features")
        path.write_text(json.dumps({"features": list(self.features), **data}, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path = "") -> "EvidenceModel":
        """The model at `path` (setting generation.evidence_model), or the bundled one when empty."""
        named = _feature_names(Path(path) if path else DEFAULT_MODEL)
        weights, bias, data = read_model(path, DEFAULT_MODEL, "generation.evidence_model", "rag calibrate",
                                         "evidence model", named)
        try:
            return cls(weights, bias, float(data.get("threshold", 0.5)), data.get("fitted_on", {}), tuple(named))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"generation.evidence_model: {path or DEFAULT_MODEL} is not an evidence model "
                              f"(threshold: {exc})") from None


def _feature_names(where: Path) -> tuple[str, ...]:
    """The features a model file names when they are one of the known sets; this version's FEATURES otherwise,
    so `read_model` reports the mismatch (or the unreadable file) in its one-line error."""
    try:
        named = tuple(json.loads(where.read_text(encoding="utf-8")).get("features") or ())
    except (OSError, ValueError, AttributeError, TypeError):
        return FEATURES
    return named if named in KNOWN_FEATURE_SETS else FEATURES


def fit(rows: list[list[float]], labels: list[int], max_false_refusal: float = 0.1,
        l2: float = 0.01, steps: int = 5000, names: Sequence[str] = FEATURES,
        threshold: float | None = None) -> EvidenceModel:
    """Logistic regression (`rag.logistic`); the threshold given (chosen on the tune splits), or else the
    highest one whose false-refusal rate on the answerable rows stays within `max_false_refusal`."""
    x = np.asarray(rows, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    weights, bias = fit_logistic(x, y, l2=l2, steps=steps)
    scores = sigmoid(x @ weights + bias)
    if threshold is None:
        answerable = np.sort(scores[y == 1])
        cut = answerable[int(math.floor(max_false_refusal * len(answerable)))] if len(answerable) else 0.5
        threshold = float(min(0.5, cut - 1e-6))
    refused = scores < threshold
    return EvidenceModel(
        weights=[round(float(v), 5) for v in weights], bias=round(float(bias), 5), threshold=round(threshold, 5),
        fitted_on={"answerable": int(y.sum()), "unanswerable": int(len(y) - y.sum()),
                   "false_refusal": round(float(refused[y == 1].mean()), 4) if y.sum() else None,
                   "unanswerable_refused": round(float(refused[y == 0].mean()), 4) if len(y) > y.sum() else None},
        features=tuple(names),
    )


@dataclass(frozen=True)
class Labelled:
    question: str
    answerable: bool


def read_labelled(path: str | Path) -> list[Labelled]:
    """Labelled questions from a question file (answerable when it has gold_docs) or a training pair file
    (question, answer, doc: answerable). A split evaluation file is refused."""
    out = []
    for number, data in question_lines(path):
        question = data["question"]
        answerable = bool(data.get("gold_docs") or data.get("doc"))
        split = data.get("split")
        if not isinstance(question, str):
            raise RagError(f"{path}:{number}: 'question' must be text")
        if split:  # tune/test splits mark evaluation questions: choosing by them is allowed, fitting on them not
            raise RagError(f"{path}:{number}: an evaluation question (split {split!r}); calibrate on training-side "
                           "questions only (corpora/calibration, corpora/training)")
        out.append(Labelled(question, answerable))
    return out


def calibrate(search, questions: Sequence[Labelled], max_false_refusal: float = 0.1, k: int = 4,
              candidates: int = 8, policy: AnsweringPolicy = _DEFAULT_POLICY, embed=None,
              threshold: float | None = None) -> EvidenceModel:
    """Fit the evidence model on labelled questions, each read as the gate reads them (`closest_passages` of
    retrieval's first max(`candidates`, evidence_pool)); with `embed` the model also reads the lead sentence's score."""
    names = FEATURES + ((LEAD_SCORE,) if embed is not None else ())
    rows = [features(q.question, passages_read(search, q.question, k, candidates, policy), names, policy, embed)
            for q in questions]
    return fit(rows, [int(q.answerable) for q in questions], max_false_refusal, names=names, threshold=threshold)
