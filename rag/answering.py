"""Answer a question: retrieve → judge the evidence → rerank → prompt → generate → verify → cite.

The generator is small, so the pipeline guards it on both sides. Before
generating, a calibrated evidence estimate refuses questions the passages cannot
answer, as does a name in the question that no passage contains; the generator's
own reading of a wider set of retrieved passages then chooses and orders the ones
it is shown. While generating, each finished sentence is checked against the
passages — its numbers must appear there, its words must mostly come from there,
and it must say more than the question and the passages' labels did — and only
checked sentences are passed on. The answer closes with the passages' own key
sentences, quoted and cited, so every answer shows the words it rests on.
"""
from __future__ import annotations

import re
from typing import Iterator, Sequence

from .citations import MarkerFilter, checked, citation, parse_markers
from .conversation import standalone_question
from .evidence import EvidenceModel, unmatched_names
from .generation import Generator
from .highlighting import Highlight, highlight
from .prompting import REFUSAL, PromptTemplate, build_prompt
from .reranking import rerank
from .text_overlap import content_words, mostly_in
from .types import Answer, Hit

_DECLINES = re.compile(
    r"(?:documents?|passages?|text|context) (?:do not|don['’]t|does not|doesn['’]t) (?:say|contain|mention|provide"
    r"|include|answer)|not (?:mentioned|provided|specified|stated|included) in|no information|cannot answer"
    r"|can['’]t answer|(?:do not|don['’]t) know", re.I)
# The group keeps a sentence's markers with it; no split before a "[" whose marker may still be streaming in.
_SENTENCE_END = re.compile(r"(?<=[.!?])((?:\s*\[\d+\])*)\s+(?![\s\[])")
# "The documents say that …" is about the passages, not from them; its words would count as unsupported.
_ATTRIBUTION = re.compile(r"^(?:according to (?:the )?(?:documents?|passages?|text)(?:\s*\[\d+\])*,?"
                          r"|(?:the )?(?:documents?|passages?|text) (?:says?|states?|explains?|notes?|mentions?)"
                          r"(?: that)?:?)\s+(?=\S)", re.I)
_MARKERS = re.compile(r"\s*\[\d+\]")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
MIN_SUPPORT = 0.75  # share of a sentence's new content words that must come from the passages
QUOTE_LIMIT = 3
QUOTES_LEAD = "The documents say: "
QUOTES_AFTER = "\n\nIn the documents' words: "


class Answerer:
    def __init__(self, search, embed, generator: Generator, evidence: EvidenceModel, k: int,
                 context_tokens: int, max_new_tokens: int, template: PromptTemplate | None = None,
                 reranking: bool = True, candidates: int = 0):
        self.search = search
        self.embed = embed
        self.generator = generator
        self.evidence = evidence
        self.k = k
        self.context_tokens = context_tokens
        self.max_new_tokens = max_new_tokens
        self.template = template or PromptTemplate()
        self.reranking = reranking
        self.candidates = max(k, candidates) if reranking else k

    def stream(self, question: str, history: Sequence[dict] | None = None) -> Iterator[str | Answer]:
        """Yield the answer's text sentence by sentence as it is checked, then the finished `Answer`.
        The pieces joined are exactly `Answer.text`."""
        query = standalone_question(question, history)
        candidates = self.search(query, self.candidates)
        hits = candidates[:self.k]
        answer = Answer(question=question, text="", refused=False, hits=hits, search_query=query,
                        evidence=round(self.evidence.probability(query, hits), 4),
                        model=self.generator.source, adapter=self.generator.adapter or None)
        if not hits or answer.evidence < self.evidence.threshold or unmatched_names(query, hits):
            yield from self._refuse(answer)
            return
        # After the evidence estimate, which was calibrated on the retrieval order's top k.
        hits = answer.hits = self.choose(query, candidates)
        budget = min(self.context_tokens, self.generator.context_window) - self.max_new_tokens
        prompt = build_prompt(query, hits, self.generator.render, self.generator.count_tokens, budget, self.template)
        passages = prompt.passages
        key = highlight(query, passages, self.embed, QUOTE_LIMIT)
        grounds = {q.n for q in key}  # the passages the answer may rest on
        pieces: list[str] = []
        cited: list[int] = []
        for sentence in self._sentences(prompt.messages, len(passages)):
            if _DECLINES.search(sentence):
                # Past the calibrated evidence gate, a small model's "the documents don't say" was wrong
                # more often than right (on documents it never saw); it ends the model's part, and the
                # passages' own words are shown instead.
                break
            text, numbers = parse_markers(without_attribution(sentence), len(passages))
            claim = _MARKERS.sub("", text)  # the "1" of "[1]" is no figure to find in the passages
            if not verified(claim, query, passages):
                continue
            # The model's numbers only where the passage agrees, and only passages holding key evidence:
            # a sentence drawn from elsewhere has drifted from what answers the question.
            supported = [n for n in checked(claim, numbers, passages) if n in grounds]
            if not supported:
                continue
            if supported != numbers:
                text = claim + "".join(f" [{n}]" for n in supported)
                numbers = supported
            piece = (" " if pieces else "") + text
            pieces.append(piece)
            cited += [n for n in numbers if n not in cited]
            yield piece
        # The model read every passage whole: once its checked sentences rest on some key passages,
        # quotes from the others are only the sentence scorer's weaker guesses — unless they answer
        # another part of the question than the one the model took up.
        quotes = [q for q in key if (not cited or q.n in cited or q.answers_part)
                  and not mostly_in(q.text, "".join(pieces))]
        if quotes:
            piece = (QUOTES_AFTER if pieces else QUOTES_LEAD) + " ".join(_quote(q) for q in quotes)
            pieces.append(piece)
            cited += [n for n in dict.fromkeys(q.n for q in quotes) if n not in cited]
            yield piece
        if not pieces:
            yield from self._refuse(answer)
            return
        answer.text = "".join(pieces)
        answer.citations = [citation(n, passages[n - 1]) for n in cited]
        yield answer

    def choose(self, query: str, candidates: Sequence[Hit]) -> list[Hit]:
        """The k passages the generator is shown: the candidates as its own reading ranks them
        (retrieval's order when reranking is off)."""
        if not self.reranking:
            return list(candidates[:self.k])
        return rerank(query, candidates, self.generator.likelihoods)[:self.k]

    def ask(self, question: str, history: Sequence[dict] | None = None) -> Answer:
        *_, answer = self.stream(question, history)
        return answer

    def _sentences(self, messages, n_passages: int) -> Iterator[str]:
        """The model's output cut into complete sentences (citation markers kept with theirs)."""
        markers = MarkerFilter(n_passages)
        buffer = ""
        for token_text in self.generator.stream(messages, self.max_new_tokens):
            buffer += markers.feed(token_text)
            *parts, buffer = _SENTENCE_END.split(buffer)
            sentences = (text + markers for text, markers in zip(parts[0::2], parts[1::2]))
            yield from (s.strip() for s in sentences if s.strip())
        buffer = (buffer + markers.flush()).strip()
        if re.search(r"[.!?](?:\s*\[\d+\])*$", buffer):  # a fragment cut off by the token bound is dropped
            yield buffer

    @staticmethod
    def _refuse(answer: Answer) -> Iterator[str | Answer]:
        answer.text, answer.refused, answer.citations = REFUSAL, True, []
        yield answer.text
        yield answer


def verified(sentence: str, question: str, passages: Sequence[Hit]) -> bool:
    """True when the sentence adds something, and what it adds comes from the passages, not only their labels."""
    source = " ".join(p.labelled_text for p in passages)
    if any(number.rstrip(".,") not in source for number in _NUMBER.findall(sentence)):
        return False
    new_words = content_words(sentence) - content_words(question)
    if not new_words:
        return False
    if any(mostly_in(sentence, f"{p.title} {p.section}") for p in passages):
        return False  # a passage's title or heading path repeated: a label, not an answer
    return len(new_words & content_words(source)) / len(new_words) >= MIN_SUPPORT


def without_attribution(sentence: str) -> str:
    """The sentence without a lead-in like "According to the documents," or "The passage says that"."""
    rest = _ATTRIBUTION.sub("", sentence, count=1)
    return rest[:1].upper() + rest[1:]


def _quote(highlight_: Highlight) -> str:
    return f"“{highlight_.text}” [{highlight_.n}]"
