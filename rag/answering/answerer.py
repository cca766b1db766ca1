"""The answering pipeline: gate → lead → choose → compose → quote → one immutable `Answer`, streamed as it goes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Sequence

from ..citations import citation
from ..evidence import EvidenceModel
from ..highlighting import Highlight, Remembered, highlight
from ..policy import AnsweringPolicy
from ..prompting import REFUSAL, Prompt, PromptTemplate, build_prompt
from ..types import Answer, Hit
from .choose import choose
from .compose import compose, model_sentences
from .gate import Gate, Retrieved, Search
from .quote import quote_pieces, quotes_to_show

if TYPE_CHECKING:
    from ..generation import Generator
    from ..selection import SentenceSelector


@dataclass(frozen=True)
class Lead:
    """The sentence an answer opens with, and the passage it comes from (shown to the model as passage 1)."""

    quote: Highlight
    passage: Hit


class Answerer:
    def __init__(self, search: Search, embed, generator: "Generator", evidence: EvidenceModel, k: int,
                 context_tokens: int, max_new_tokens: int, template: PromptTemplate | None = None,
                 reranking: bool = True, candidates: int = 0, policy: AnsweringPolicy | None = None,
                 selector: "SentenceSelector | None" = None):
        self.embed = embed
        self.selector = selector  # the learned sentence scorer; None: the hand-weighted score
        self.generator = generator
        self.evidence = evidence
        self.k = k
        self.context_tokens = context_tokens
        self.max_new_tokens = max_new_tokens
        self.template = template or PromptTemplate()
        self.reranking = reranking
        self.policy = policy or AnsweringPolicy()
        self.gate = Gate(search, evidence, k, max(k, candidates) if reranking else k, self.policy)

    def stream(self, question: str, history: Sequence[dict] | None = None) -> Iterator[str | Answer]:
        """Yield the answer's text piece by piece, then the finished `Answer`. First the passages' best
        sentence, quoted and cited, as soon as retrieval has found it (reranking and generation take most
        of an answer's time); then the model's sentences, each as it passes its checks; then the other
        key quotes. The pieces joined are exactly `Answer.text`, nothing shown is taken back, and a
        refusal is one piece."""
        retrieved = self.gate(question, history)
        if not retrieved.passed:
            yield from self._refuse(retrieved, retrieved.hits)
            return
        query, embed = retrieved.query, Remembered(self.embed)
        lead = self.lead(retrieved, embed)
        pieces: list[str] = []
        cited: list[int] = []
        if lead:
            pieces += quote_pieces([lead.quote], self.policy.quotes_lead)
            cited.append(lead.quote.n)
            yield pieces[-1]
        hits = self.choose(query, retrieved.candidates, lead.passage if lead else None)
        prompt = self._prompt(query, hits)
        passages = prompt.passages
        key = highlight(query, passages, embed, self.policy, self.selector)
        grounds = {q.n for q in key} | set(cited)
        model_cited: list[int] = []  # what the model's own sentences cite (each cites one at least)
        sentences = model_sentences(self.generator.stream(prompt.messages, self.max_new_tokens), len(passages))
        for sentence in compose(sentences, query, passages, grounds, self.policy, lead.quote.text if lead else ""):
            gap = self.policy.after_lead if lead and not model_cited else (" " if pieces else "")
            pieces.append(gap + sentence.text)
            model_cited += [n for n in sentence.cites if n not in model_cited]
            cited += [n for n in sentence.cites if n not in cited]
            yield pieces[-1]
        quotes = quotes_to_show(key, model_cited, "".join(pieces), self.policy)
        lead_in = self.policy.quotes_after if model_cited else (" " if pieces else self.policy.quotes_lead)
        for piece in quote_pieces(quotes, lead_in):
            pieces.append(piece)
            yield piece
        cited += [n for n in dict.fromkeys(q.n for q in quotes) if n not in cited]
        if not pieces:
            yield from self._refuse(retrieved, hits)
            return
        yield self._answer(retrieved, hits, "".join(pieces), [citation(n, passages[n - 1]) for n in cited])

    def ask(self, question: str, history: Sequence[dict] | None = None) -> Answer:
        *_, answer = self.stream(question, history)
        return answer

    def lead(self, retrieved: Retrieved, embed) -> Lead | None:
        """The best sentence of retrieval's top `policy.lead_passages` passages, numbered 1: its passage is
        pinned as the first the model is shown, so the citation holds whatever the reranker chooses.
        None when those passages hold no sentence to quote, or the prompt has no room for the passage."""
        top = list(retrieved.candidates[:self.policy.lead_passages])
        key = highlight(retrieved.query, top, embed, self.policy, self.selector)
        if not key or not self._prompt(retrieved.query, top[key[0].n - 1:key[0].n]).passages:
            return None
        best = key[0]
        return Lead(Highlight(1, best.text, best.score, best.answers_part), top[best.n - 1])

    def choose(self, query: str, candidates: Sequence[Hit], pinned: Hit | None = None) -> list[Hit]:
        """The k passages the generator is shown (retrieval's order when reranking is off); a `pinned`
        passage comes first and the reranker chooses the others."""
        likelihoods = self.generator.likelihoods if self.reranking else None
        if pinned is None:
            return choose(query, candidates, self.k, likelihoods, self.policy.rerank_rank_prior)
        if self.k == 1:
            return [pinned]
        others = [hit for hit in candidates if hit != pinned]
        return [pinned] + choose(query, others, self.k - 1, likelihoods, self.policy.rerank_rank_prior)

    def _prompt(self, query: str, hits: Sequence[Hit]) -> Prompt:
        budget = min(self.context_tokens, self.generator.context_window) - self.max_new_tokens
        return build_prompt(query, list(hits), self.generator.render, self.generator.count_tokens, budget,
                            self.template, self.policy.min_passage_tokens)

    def _refuse(self, retrieved: Retrieved, hits: Sequence[Hit]) -> Iterator[str | Answer]:
        yield REFUSAL
        yield self._answer(retrieved, hits, REFUSAL, [], refused=True)

    def _answer(self, retrieved: Retrieved, hits: Sequence[Hit], text: str, citations: list,
                refused: bool = False) -> Answer:
        return Answer(question=retrieved.question, text=text, refused=refused, citations=citations,
                      hits=list(hits), search_query=retrieved.query, evidence=retrieved.evidence,
                      model=self.generator.source, adapter=self.generator.adapter or None)
