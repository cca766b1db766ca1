"""Prompt building: a system instruction, numbered passages, the question — always within budget.

The passage block is packed best-first until the model's context (minus the
answer's token allowance) is full; a passage that does not fit whole is cut at a
sentence boundary, or left out. The final rendered prompt is counted again, so a
template change can never make the prompt overflow.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .errors import RagError
from .policy import AnsweringPolicy
from .text import LOOSE_BREAK, split_sentences
from .types import Hit

DEFAULT_SYSTEM = (
    "You are a careful assistant for homeowners. Answer the question using only the numbered passages. "
    "Write one to three short sentences, reuse the passages' own words, and after each sentence put the "
    "number of the passage it comes from in square brackets, like [1]. If the passages do not answer the "
    "question, reply exactly: The documents don't say."
)
DEFAULT_PASSAGE = "[{n}] {source_line}\n{text}"
DEFAULT_USER = "Passages:\n\n{passages}\n\nQuestion: {question}"
REFUSAL = "The documents don't say."


@dataclass
class PromptTemplate:
    system: str = DEFAULT_SYSTEM
    passage: str = DEFAULT_PASSAGE
    user: str = DEFAULT_USER


@dataclass
class Prompt:
    messages: list[dict]
    passages: list[Hit]  # passage n is passages[n - 1]
    tokens: int


def source_line(hit: Hit) -> str:
    parts = [hit.title or "Untitled"]
    if hit.section and hit.section != hit.title:
        parts.append(hit.section)
    if hit.page is not None:
        parts.append(f"page {hit.page}")
    return " — ".join(parts)


def build_prompt(question: str, hits: list[Hit], render: Callable[[list[dict]], str],
                 count_tokens: Callable[[str], int], budget: int, template: PromptTemplate | None = None,
                 min_passage_tokens: int = AnsweringPolicy.min_passage_tokens) -> Prompt:
    """Messages whose rendered form takes at most `budget` tokens; a passage that would be cut
    below `min_passage_tokens` is left out (the answering policy sets it)."""
    template = template or PromptTemplate()
    texts = [hit.text for hit in hits]
    while True:
        messages, used = _messages(question, hits[:len(texts)], texts, template)
        tokens = count_tokens(render(messages))
        if tokens <= budget or not texts:
            if tokens > budget:
                raise RagError(f"the question alone takes {tokens} tokens, more than the {budget} the prompt may use; "
                               "ask a shorter question or raise generation.context_tokens")
            return Prompt(messages, hits[:len(texts)], tokens)
        # Over budget: shorten the last passage, or drop it when little would be left.
        excess = tokens - budget
        last_tokens = count_tokens(texts[-1])
        if last_tokens - excess >= min_passage_tokens:
            texts[-1] = _cut(texts[-1], last_tokens - excess, count_tokens)
        else:
            texts.pop()


def _messages(question: str, hits: list[Hit], texts: list[str], template: PromptTemplate):
    blocks = [template.passage.format(n=n, source_line=source_line(hit), text=text)
              for n, (hit, text) in enumerate(zip(hits, texts), start=1)]
    user = template.user.format(passages="\n\n".join(blocks), question=question.strip())
    return [{"role": "system", "content": template.system}, {"role": "user", "content": user}], len(blocks)


def _cut(text: str, max_tokens: int, count_tokens: Callable[[str], int]) -> str:
    """The longest run of whole sentences within `max_tokens` (whole words if one sentence is too long)."""
    pieces = split_sentences(text, boundary=LOOSE_BREAK)
    kept = ""
    for piece in pieces:
        candidate = f"{kept} {piece}".strip()
        if count_tokens(candidate) > max_tokens:
            break
        kept = candidate
    if kept:
        return kept
    words = text.split()
    low, high = 0, len(words)
    while low < high:  # binary search on the number of words that fit
        mid = (low + high + 1) // 2
        if count_tokens(" ".join(words[:mid])) <= max_tokens:
            low = mid
        else:
            high = mid - 1
    return " ".join(words[:low])
