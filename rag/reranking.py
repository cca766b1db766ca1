"""Rerank retrieved passages by how well each one predicts the question (query likelihood).

The retriever compares a question and a passage as two separate vectors and word
lists; the generator can read them together. Scoring a passage by the mean
log-probability of the question written after it (unsupervised passage
reranking, "UPR") lets the passage that explains what was asked rise to the top,
which is where the answer's quotes and citations come from. The fused retrieval
order still counts, as a small prior per rank.
"""
from __future__ import annotations

from typing import Callable, Sequence

from .types import Hit

_CONTEXT = "Passage: {title} — {section}\n{text}\n\nA question this passage answers:"

Likelihoods = Callable[[Sequence[str], str], list[float]]


def rerank(question: str, hits: Sequence[Hit], likelihoods: Likelihoods, rank_prior: float) -> list[Hit]:
    """The hits reordered, best first; `likelihoods(contexts, continuation)` scores each context,
    and `rank_prior` (log-probability per retrieval rank) keeps the retrieval order in near ties."""
    if len(hits) < 2:
        return list(hits)
    contexts = [_CONTEXT.format(title=h.title, section=h.section or h.title, text=h.text) for h in hits]
    scores = likelihoods(contexts, " " + question.strip())
    order = sorted(range(len(hits)), key=lambda i: (-(scores[i] - rank_prior * i), i))
    return [hits[i] for i in order]
