"""Find the sentences in the retrieved passages that answer the question.

A small generator copes badly with long contexts and may invent, and a reader
wants to see the exact words an answer rests on. Each passage is split into
sentences; a sentence is scored by the embedding similarity of "heading:
sentence" to the question plus the share of the question's content words it
contains. The best sentence leads; a few more follow if they score close to it,
with a preference for the best sentence's own passage (fewer, surer citations).
Questions are never quoted (they ask, not answer), nor the same words twice.
A question that asks two things ("…, and how many days …?") also gets each
part's best sentence, which may sit in another passage. A heading written as a
full sentence (pages of sourced facts head each source with the claim it
supports) is quoted like the passage's own sentences.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .policy import AnsweringPolicy
from .selection.features import sentence_features
from .text import content_words, mostly_in, share_found, split_sentences
from .types import Hit

if TYPE_CHECKING:
    from .selection import SentenceSelector

_QUESTION = re.compile(r"\?[\"”’)]*$")
_STATEMENT_END = re.compile(r"[.!][\"”’)]*$")
_DEFAULT = AnsweringPolicy()


@dataclass(frozen=True)
class Highlight:
    n: int  # passage number (1-based, as cited)
    text: str
    score: float
    answers_part: bool = False  # the best sentence for one part of a question that asks several


def sentences(text: str, policy: AnsweringPolicy = _DEFAULT) -> list[str]:
    """Sentences and lines; a line ending in ":" takes in the list items that follow it."""
    out: list[str] = []
    absorbing = False
    for raw in split_sentences(text, lines=True):
        piece = raw.strip()
        is_item = piece.startswith("- ")
        piece = piece.lstrip("- ").strip()
        if not piece:
            continue
        if absorbing and is_item and len(out[-1].split()) + len(piece.split()) <= policy.quote_max_list_words:
            out[-1] += (" " if out[-1][-1] in ".:;!?" else "; ") + piece
            continue
        absorbing = piece.endswith(":")
        out.append(piece)
    return [s for s in out if len(s.split()) >= policy.quote_min_words]


def question_parts(question: str, policy: AnsweringPolicy = _DEFAULT) -> list[str]:
    """The questions a question asks: "…? …?" and "…, and how many …?" ask two. One part when it asks one."""
    parts = [part.strip(" ?") for part in policy.regex("question_parts").split(question)]
    parts = [part for part in parts if len(part.split()) >= policy.quote_min_words]
    return parts if len(parts) > 1 else [question]


def highlight(question: str, passages: Sequence[Hit], embed, policy: AnsweringPolicy = _DEFAULT,
              selector: "SentenceSelector | None" = None) -> list[Highlight]:
    """Up to `policy.quote_limit` sentences that answer the question, best first; `embed` gives normalised
    vectors. A question in several parts gets each part's best sentence too (`answers_part`), within or
    past the limit. With a `selector`, sentences are scored by the learned model (the probability that
    the sentence answers), else by the hand-weighted score."""
    limit = policy.quote_limit
    candidates = [(n, heading, s) for n, hit in enumerate(passages, start=1) for heading, s in statements(hit, policy)
                  if not _QUESTION.search(s)]
    if not candidates:
        return []
    in_context = [f"{heading}: {s}" if heading else s for _, heading, s in candidates]
    parts = question_parts(question, policy)
    asks = [question] + (parts if len(parts) > 1 else [])
    vectors = embed(asks + in_context)
    sentence_vectors = vectors[len(asks):]
    similarity = [hit.similarity for hit in passages]

    def score(asked: str, vector) -> np.ndarray:
        if selector is None:
            return hand_weighted_scores(asked, vector, candidates, sentence_vectors, policy)
        return selector.score(sentence_features(asked, vector, candidates, sentence_vectors, similarity, policy))

    scores = score(question, vectors[0])
    bonus, max_gap = ((policy.selector_same_passage_bonus, policy.selector_max_gap) if selector is not None
                      else (policy.quote_same_passage_bonus, policy.quote_max_gap))
    best = int(np.argmax(scores))
    preferred = scores + np.array([bonus if n == candidates[best][0] else 0.0 for n, _, _ in candidates])

    def repeats(i: int, others: list[int]) -> bool:
        return any(mostly_in(candidates[i][2], candidates[j][2], policy.repeat_share) for j in others)

    chosen: list[int] = []
    for i in np.argsort(-preferred, kind="stable"):
        if len(chosen) == limit or preferred[i] < scores[best] - max_gap:
            break
        if not repeats(i, chosen):
            chosen.append(int(i))
    # "Is there a limit?" alone matches any limit: a part is read in the light of the whole question.
    answers_part: list[int] = []
    lead_answers_part = False  # the lead sentence may itself be the best answer to one part
    for part, vector in zip(asks[1:], vectors[1:]):
        i = int(np.argmax(score(part, vector) + policy.quote_whole_question_weight * scores))
        if repeats(i, chosen[:1]):
            lead_answers_part = True
        elif not repeats(i, answers_part):
            answers_part.append(i)
    rest = [i for i in chosen[1:] if not repeats(i, answers_part)]
    order = (chosen[:1] + answers_part + rest)[:max(limit, 1 + len(answers_part))]
    return [Highlight(candidates[i][0], candidates[i][2], round(float(scores[i]), 4),
                      i in answers_part or (i == chosen[0] and lead_answers_part))
            for i in order]


class Remembered:
    """`embed` that computes each text's vector once: an answer highlights its lead passages before
    reranking and the passages the model is shown after, mostly the same sentences."""

    def __init__(self, embed):
        self.embed, self.vectors = embed, {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        missing = [text for text in dict.fromkeys(texts) if text not in self.vectors]
        if missing:
            self.vectors.update(zip(missing, self.embed(missing)))
        return np.stack([self.vectors[text] for text in texts])


def hand_weighted_scores(question: str, question_vector, candidates, sentence_vectors,
                         policy: AnsweringPolicy) -> np.ndarray:
    """Cosine plus the question's words found, less a rank penalty, plus a bonus for a figure when one is asked:
    the score the answering policy's quote_* weights set (the learned selector's baseline)."""
    asked = content_words(question)
    wants_figure = bool(policy.regex("asks_quantity").search(question))
    return np.array([
        cosine + policy.quote_lexical_weight * share_found(asked, content_words(s))
        - policy.quote_rank_penalty * (n - 1)
        + (policy.quote_quantity_bonus if wants_figure and re.search(r"\d", s) else 0.0)
        for (n, _, s), cosine in zip(candidates, sentence_vectors @ question_vector)])


def statements(hit: Hit, policy: AnsweringPolicy = _DEFAULT) -> list[tuple[str, str]]:
    """The passage's sentences, each with the heading it sits under, led by the last heading
    when that heading is itself a statement (under its own parent heading)."""
    *parents, last = hit.section.split(" > ") if hit.section else [""]
    found = [(last, s) for s in sentences(hit.text, policy)]
    if len(last.split()) >= policy.quote_min_statement_words and _STATEMENT_END.search(last):
        found.insert(0, (parents[-1] if parents else "", last.strip("\"“”")))
    return found
