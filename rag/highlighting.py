"""Find the sentences in the retrieved passages that answer the question.

A small generator copes badly with long contexts and may invent, and a reader
wants to see the exact words an answer rests on. Each passage is split into
sentences; a sentence is scored by the embedding similarity of "heading:
sentence" to the question plus the share of the question's content words it
contains. The best sentence leads; a few more follow if they score close to it,
with a preference for the best sentence's own passage (fewer, surer citations).
Questions are never quoted (they ask, not answer), nor the same words twice.
A heading written as a full sentence (pages of sourced facts head each source
with the claim it supports) is quoted like the passage's own sentences.
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
MAX_GAP = 0.15  # how far below the best sentence a further quote may score
QUANTITY_BONUS = 0.1  # "how much / how long / what share" questions are answered by figures
_ASKS_QUANTITY = re.compile(r"\b(how (much|many|long|soon|quickly|fast|high|low|large|big|old|often)|what (share|percent"
                            r"|percentage|age|number|amount|rate)|when)\b", re.I)


_QUESTION = re.compile(r"\?[\"”’)]*$")
_STATEMENT_END = re.compile(r"[.!][\"”’)]*$")
_MIN_STATEMENT_WORDS = 8


@dataclass(frozen=True)
class Highlight:
    n: int  # passage number (1-based, as cited)
    text: str
    score: float


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


def highlight(question: str, passages: Sequence[Hit], embed, limit: int = 3) -> list[Highlight]:
    """Up to `limit` sentences that answer the question, best first; `embed` gives normalised vectors."""
    candidates = [(n, heading, s) for n, hit in enumerate(passages, start=1) for heading, s in _statements(hit)
                  if not _QUESTION.search(s)]
    if not candidates:
        return []
    in_context = [f"{heading}: {s}" if heading else s for _, heading, s in candidates]
    vectors = embed([question] + in_context)
    similarity = vectors[1:] @ vectors[0]
    asked = content_words(question)
    wants_figure = bool(_ASKS_QUANTITY.search(question))
    scores = np.array([
        cosine + LEXICAL_WEIGHT * (len(asked & content_words(s)) / len(asked) if asked else 0.0)
        - RANK_PENALTY * (n - 1) + (QUANTITY_BONUS if wants_figure and re.search(r"\d", s) else 0.0)
        for (n, _, s), cosine in zip(candidates, similarity)])
    best = int(np.argmax(scores))
    preferred = scores + np.array([SAME_PASSAGE_BONUS if n == candidates[best][0] else 0.0 for n, _, _ in candidates])
    chosen: list[int] = []
    for i in np.argsort(-preferred, kind="stable"):
        if len(chosen) == limit or preferred[i] < scores[best] - MAX_GAP:
            break
        if not any(mostly_in(candidates[i][2], candidates[j][2]) for j in chosen):
            chosen.append(int(i))
    return [Highlight(candidates[i][0], candidates[i][2], round(float(scores[i]), 4)) for i in chosen]


def _statements(hit: Hit) -> list[tuple[str, str]]:
    """The passage's sentences, each with the heading it sits under, led by the last heading
    when that heading is itself a statement (under its own parent heading)."""
    *parents, last = hit.section.split(" > ") if hit.section else [""]
    found = [(last, s) for s in sentences(hit.text)]
    if len(last.split()) >= _MIN_STATEMENT_WORDS and _STATEMENT_END.search(last):
        found.insert(0, (parents[-1] if parents else "", last.strip("\"“”")))
    return found
