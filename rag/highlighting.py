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
from typing import Sequence

import numpy as np

from .text_overlap import content_words, mostly_in
from .types import Hit

_SPLIT = re.compile(r"(?<=[.!?])[\"”’)]*\s+(?=[\"“(]?[A-Z0-9$])|\n+")
_MIN_WORDS = 4
_MAX_LIST_WORDS = 80
LEXICAL_WEIGHT = 0.3
RANK_PENALTY = 0.15  # a prior for passages ranked higher (reranked: the top one usually holds the answer)
SAME_PASSAGE_BONUS = 0.2
WHOLE_QUESTION_WEIGHT = 0.3  # a part's best sentence is judged with the whole question too, less
MAX_GAP = 0.15  # how far below the best sentence a further quote may score
QUANTITY_BONUS = 0.1  # "how much / how long / what share" questions are answered by figures
_ASKS_QUANTITY = re.compile(r"\b(how (much|many|long|soon|quickly|fast|high|low|large|big|old|often)|what (share|percent"
                            r"|percentage|age|number|amount|rate)|when)\b", re.I)


_QUESTION = re.compile(r"\?[\"”’)]*$")
# Where a question asks another: after a "?", or at ", and" before a question word.
_PARTS = re.compile(r"\?\s+(?=\S)|,\s+and\s+(?=(?:what|when|where|which|who|why|how|is|are|can|do|does|must|should"
                    r"|will)\b)", re.I)
_STATEMENT_END = re.compile(r"[.!][\"”’)]*$")
_MIN_STATEMENT_WORDS = 8


@dataclass(frozen=True)
class Highlight:
    n: int  # passage number (1-based, as cited)
    text: str
    score: float
    answers_part: bool = False  # the best sentence for one part of a question that asks several


def sentences(text: str) -> list[str]:
    """Sentences and lines; a line ending in ":" takes in the list items that follow it."""
    out: list[str] = []
    absorbing = False
    for raw in _SPLIT.split(text):
        piece = raw.strip()
        is_item = piece.startswith("- ")
        piece = piece.lstrip("- ").strip()
        if not piece:
            continue
        if absorbing and is_item and len(out[-1].split()) + len(piece.split()) <= _MAX_LIST_WORDS:
            out[-1] += (" " if out[-1][-1] in ".:;!?" else "; ") + piece
            continue
        absorbing = piece.endswith(":")
        out.append(piece)
    return [s for s in out if len(s.split()) >= _MIN_WORDS]


def question_parts(question: str) -> list[str]:
    """The questions a question asks: "…? …?" and "…, and how many …?" ask two. One part when it asks one."""
    parts = [part.strip(" ?") for part in _PARTS.split(question)]
    parts = [part for part in parts if len(part.split()) >= _MIN_WORDS]
    return parts if len(parts) > 1 else [question]


def highlight(question: str, passages: Sequence[Hit], embed, limit: int = 3) -> list[Highlight]:
    """Up to `limit` sentences that answer the question, best first; `embed` gives normalised vectors.
    A question in several parts gets each part's best sentence too (`answers_part`), within or past the limit."""
    candidates = [(n, heading, s) for n, hit in enumerate(passages, start=1) for heading, s in _statements(hit)
                  if not _QUESTION.search(s)]
    if not candidates:
        return []
    in_context = [f"{heading}: {s}" if heading else s for _, heading, s in candidates]
    parts = question_parts(question)
    asks = [question] + (parts if len(parts) > 1 else [])
    vectors = embed(asks + in_context)
    sentence_vectors = vectors[len(asks):]
    scores = _scores(question, vectors[0], candidates, sentence_vectors)
    best = int(np.argmax(scores))
    preferred = scores + np.array([SAME_PASSAGE_BONUS if n == candidates[best][0] else 0.0 for n, _, _ in candidates])

    def repeats(i: int, others: list[int]) -> bool:
        return any(mostly_in(candidates[i][2], candidates[j][2]) for j in others)

    chosen: list[int] = []
    for i in np.argsort(-preferred, kind="stable"):
        if len(chosen) == limit or preferred[i] < scores[best] - MAX_GAP:
            break
        if not repeats(i, chosen):
            chosen.append(int(i))
    # "Is there a limit?" alone matches any limit: a part is read in the light of the whole question.
    answers_part: list[int] = []
    lead_answers_part = False  # the lead sentence may itself be the best answer to one part
    for part, vector in zip(asks[1:], vectors[1:]):
        i = int(np.argmax(_scores(part, vector, candidates, sentence_vectors) + WHOLE_QUESTION_WEIGHT * scores))
        if repeats(i, chosen[:1]):
            lead_answers_part = True
        elif not repeats(i, answers_part):
            answers_part.append(i)
    rest = [i for i in chosen[1:] if not repeats(i, answers_part)]
    order = (chosen[:1] + answers_part + rest)[:max(limit, 1 + len(answers_part))]
    return [Highlight(candidates[i][0], candidates[i][2], round(float(scores[i]), 4),
                      i in answers_part or (i == chosen[0] and lead_answers_part))
            for i in order]


def _scores(question: str, question_vector, candidates, sentence_vectors) -> np.ndarray:
    asked = content_words(question)
    wants_figure = bool(_ASKS_QUANTITY.search(question))
    return np.array([
        cosine + LEXICAL_WEIGHT * (len(asked & content_words(s)) / len(asked) if asked else 0.0)
        - RANK_PENALTY * (n - 1) + (QUANTITY_BONUS if wants_figure and re.search(r"\d", s) else 0.0)
        for (n, _, s), cosine in zip(candidates, sentence_vectors @ question_vector)])


def _statements(hit: Hit) -> list[tuple[str, str]]:
    """The passage's sentences, each with the heading it sits under, led by the last heading
    when that heading is itself a statement (under its own parent heading)."""
    *parents, last = hit.section.split(" > ") if hit.section else [""]
    found = [(last, s) for s in sentences(hit.text)]
    if len(last.split()) >= _MIN_STATEMENT_WORDS and _STATEMENT_END.search(last):
        found.insert(0, (parents[-1] if parents else "", last.strip("\"“”")))
    return found
