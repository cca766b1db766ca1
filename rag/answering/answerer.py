"""The answering pipeline: gate → choose → compose → quote → one immutable `Answer`."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Sequence

from ..citations import citation
from ..evidence import EvidenceModel
from ..highlighting import highlight
from ..policy import AnsweringPolicy
from ..prompting import REFUSAL, PromptTemplate, build_prompt
from ..types import Answer, Hit
from .choose import choose
from .compose import compose, model_sentences
from .gate import Gate, Retrieved, Search
from .quote import quoted, quotes_to_show

if TYPE_CHECKING:
    from ..generation import Generator


class Answerer:
    def __init__(self, search: Search, embed, generator: "Generator", evidence: EvidenceModel, k: int,
                 context_tokens: int, max_new_tokens: int, template: PromptTemplate | None = None,
                 reranking: bool = True, candidates: int = 0, policy: AnsweringPolicy | None = None):
        self.embed = embed
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
        """Yield the answer's text piece by piece as it is checked, then the finished `Answer`.
        The pieces joined are exactly `Answer.text` (a refusal is one piece)."""
        retrieved = self.gate(question, history)
        if not retrieved.passed:
            yield from self._refuse(retrieved, retrieved.hits)
            return
        hits = self.choose(retrieved.query, retrieved.candidates)
        budget = min(self.context_tokens, self.generator.context_window) - self.max_new_tokens
        prompt = build_prompt(retrieved.query, hits, self.generator.render, self.generator.count_tokens, budget,
                              self.template, self.policy.min_passage_tokens)
        passages = prompt.passages
        key = highlight(retrieved.query, passages, self.embed, self.policy)
        pieces: list[str] = []
        cited: list[int] = []
        sentences = model_sentences(self.generator.stream(prompt.messages, self.max_new_tokens), len(passages))
        for sentence in compose(sentences, retrieved.query, passages, {q.n for q in key}, self.policy):
            pieces.append((" " if pieces else "") + sentence.text)
            cited += [n for n in sentence.cites if n not in cited]
            yield pieces[-1]
        quotes = quotes_to_show(key, cited, "".join(pieces), self.policy)
        if quotes:
            pieces.append(quoted(quotes, after_model=bool(pieces), policy=self.policy))
            cited += [n for n in dict.fromkeys(q.n for q in quotes) if n not in cited]
            yield pieces[-1]
        if not pieces:
            yield from self._refuse(retrieved, hits)
            return
        yield self._answer(retrieved, hits, "".join(pieces), [citation(n, passages[n - 1]) for n in cited])

    def ask(self, question: str, history: Sequence[dict] | None = None) -> Answer:
        *_, answer = self.stream(question, history)
        return answer

    def choose(self, query: str, candidates: Sequence[Hit]) -> list[Hit]:
        """The k passages the generator is shown (retrieval's order when reranking is off)."""
        likelihoods = self.generator.likelihoods if self.reranking else None
        return choose(query, candidates, self.k, likelihoods, self.policy.rerank_rank_prior)

    def _refuse(self, retrieved: Retrieved, hits: Sequence[Hit]) -> Iterator[str | Answer]:
        yield REFUSAL
        yield self._answer(retrieved, hits, REFUSAL, [], refused=True)

    def _answer(self, retrieved: Retrieved, hits: Sequence[Hit], text: str, citations: list,
                refused: bool = False) -> Answer:
        return Answer(question=retrieved.question, text=text, refused=refused, citations=citations,
                      hits=list(hits), search_query=retrieved.query, evidence=retrieved.evidence,
                      model=self.generator.source, adapter=self.generator.adapter or None)
