"""Choose: the passages the generator is shown, as its own reading of the candidates ranks them."""
from __future__ import annotations

from typing import Sequence

from ..reranking import Likelihoods, rerank
from ..types import Hit


def choose(query: str, candidates: Sequence[Hit], k: int, likelihoods: Likelihoods | None,
           rank_prior: float) -> list[Hit]:
    """The best k candidates by query likelihood; retrieval's order when `likelihoods` is None (reranking off)."""
    if likelihoods is None:
        return list(candidates[:k])
    return rerank(query, candidates, likelihoods, rank_prior)[:k]
