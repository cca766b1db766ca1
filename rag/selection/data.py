"""Labelled (question, sentence) pairs for the selector, from the project's own corpus only.

For each hand-written (or derived) question/answer pair, the retriever's candidate
passages for the question are cut into sentences as answering cuts them: sentences of
the supporting sentence are positives; every other sentence (same passage, other
passages on the topic) is a hard negative — exactly the confusions the selector must
learn to avoid. Questions the documents do not answer (the refusal-calibration set)
add sentences that are all negatives, so a low best score can mean "not answered".
Evaluation questions never enter: `labelled_pairs` refuses a question that is in one.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from ..evaluation import is_gold, seeded_hash
from ..highlighting import statements
from ..text import mostly_in
from ..types import Hit
from .model import pair_text

SUPPORT_SHARE = 0.8  # a sentence whose content words are this much inside the support (or vice versa) is it


@dataclass(frozen=True)
class LabelledPair:
    question: str
    heading: str
    sentence: str
    rank: int  # the passage's number among the question's candidates (1-based)
    passage_similarity: float  # the passage's retrieval similarity
    label: int  # 1: the sentence answers the question
    group: str  # the question's id: a validation split keeps every sentence of a question together
    origin: str

    @property
    def text(self) -> str:
        return pair_text(self.heading, self.sentence)


def question_group(question: str) -> str:
    """The id that keeps every sentence of one question together (`LabelledPair.group`)."""
    return hashlib.sha256(question.encode()).hexdigest()[:12]


def _supports(sentence: str, support: str) -> bool:
    return mostly_in(sentence, support, SUPPORT_SHARE) or mostly_in(support, sentence, SUPPORT_SHARE)


def labelled_pairs(pairs: Sequence[dict], unanswerable: Sequence[dict], search: Callable[[str, int], list[Hit]],
                   candidates: int, negatives_per_question: int, held_out: Iterable[str] = (),
                   seed: int = 0) -> list[LabelledPair]:
    """Pairs labelled against each question's supporting sentence; `held_out` questions (evaluation sets)
    are refused with ValueError — the selector must never learn from what it is judged on."""
    forbidden = {" ".join(q.lower().split()) for q in held_out}
    rng = random.Random(seed)
    out: list[LabelledPair] = []
    for item in [*pairs, *unanswerable]:
        question = item["question"]
        if " ".join(question.lower().split()) in forbidden:
            raise ValueError(f"an evaluation question is in the selector's training pairs: {question!r}")
        group = question_group(question)
        hits = search(question, candidates)
        support, doc = item.get("support"), item.get("doc")
        if support and not any(_holds(h, doc, support) for h in hits):
            hits += [h for h in search(support, 3) if _holds(h, doc, support)][:1]
        origin = item.get("kind", "hand-written") if support else "unanswerable"
        positives, negatives, seen = [], [], set()
        for rank, hit in enumerate(hits, start=1):
            for heading, sentence in statements(hit):
                if sentence in seen:
                    continue
                seen.add(sentence)
                answers = bool(support) and _source_is(hit, doc) and _supports(sentence, support)
                (positives if answers else negatives).append(
                    LabelledPair(question, heading, sentence, rank, hit.similarity, int(answers), group, origin))
        if support and not positives:
            continue  # the support spans a chunk boundary or was cut differently: no clean positive
        rng.shuffle(negatives)
        out += positives + negatives[:negatives_per_question]
    return out


def _source_is(hit: Hit, doc: str | None) -> bool:
    return bool(doc) and is_gold(hit.source, [doc])


def _holds(hit: Hit, doc: str | None, support: str) -> bool:
    return _source_is(hit, doc) and any(_supports(s, support) for _, s in statements(hit))


def validation_groups(pairs: Sequence[LabelledPair], share: float, seed: int) -> set[str]:
    """The questions held out for validation: a seeded hash order, so the split is stable."""
    groups = sorted({p.group for p in pairs}, key=lambda g: seeded_hash(seed, g))
    return set(groups[: round(share * len(groups))])
