"""Gate: the question to retrieve with, the passages, and whether they can answer it at all.

A calibrated evidence estimate (`rag.evidence`) refuses questions the retrieved passages cannot
answer, as does a name in the question that no passage contains.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from ..conversation import standalone_question
from ..errors import ConfigError
from ..evidence import EvidenceModel, closest_passages, unmatched_names
from ..policy import AnsweringPolicy
from ..types import Hit

Search = Callable[[str, int], Sequence[Hit]]


@dataclass(frozen=True)
class Retrieved:
    """What the gate found: `hits` are retrieval's top k, `candidates` the wider set the reranker reads."""

    question: str
    query: str  # the question made to stand alone
    candidates: tuple[Hit, ...]
    hits: tuple[Hit, ...]
    evidence: float  # estimated probability that the passages answer the question
    refusal: str = ""  # why the question is not answered; empty when it passes

    @property
    def passed(self) -> bool:
        return not self.refusal


class Gate:
    """`embed` (normalised sentence vectors) is needed only by an evidence model that reads the lead
    sentence's score (`rag calibrate --lead-score`)."""

    def __init__(self, search: Search, evidence: EvidenceModel, k: int, candidates: int,
                 policy: AnsweringPolicy, embed=None):
        if evidence.needs_embed and embed is None:
            raise ConfigError("generation.evidence_model: this evidence model reads the lead sentence's score, "
                              "which needs the embedder the gate was not given; point the setting at a model "
                              "calibrated without --lead-score, or set it to \"\" for the bundled one")
        self.search, self.evidence, self.k, self.candidates, self.policy = search, evidence, k, candidates, policy
        self.embed = embed

    def __call__(self, question: str, history: Sequence[dict] | None = None) -> Retrieved:
        query = standalone_question(question, history, self.policy)
        retrieved = tuple(self.search(query, max(self.candidates, self.policy.evidence_pool)))
        candidates = retrieved[:self.candidates]
        hits = candidates[:self.k]
        # The estimate reads what it was calibrated on: the closest of retrieval's first evidence_pool passages.
        closest = closest_passages(retrieved, self.k, self.policy)
        evidence = round(self.evidence.probability(query, closest, self.policy, self.embed), 4)
        refusal = ""
        if not hits:
            refusal = "no passages found"
        elif evidence < self.evidence.threshold:
            refusal = f"evidence {evidence} below the threshold {self.evidence.threshold}"
        elif names := unmatched_names(query, hits, self.policy):
            refusal = f"no passage names {', '.join(names)}"
        return Retrieved(question, query, candidates, hits, evidence, refusal)
