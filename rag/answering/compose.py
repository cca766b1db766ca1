"""Compose: the model's reply, cut into sentences as it streams, each one checked before it is passed on.

A sentence passes when its numbers appear in the passages, its new words mostly come
from them, and it says more than the question and the passages' labels did. Its
citations are kept where the cited passage supports it and holds key evidence.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

from ..citations import MarkerFilter, checked, parse_markers
from ..policy import AnsweringPolicy
from ..text import content_words, is_finished, mostly_in, share_found, split_finished
from ..types import Hit

_MARKERS = re.compile(r"\s*\[\d+\]")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


@dataclass(frozen=True)
class Sentence:
    """A checked sentence of the model's, with the passage numbers it cites."""

    text: str
    cites: tuple[int, ...]


def model_sentences(tokens: Iterable[str], n_passages: int) -> Iterator[str]:
    """The model's streamed output cut into complete sentences (citation markers kept with theirs)."""
    markers = MarkerFilter(n_passages)
    buffer = ""
    for token_text in tokens:
        buffer += markers.feed(token_text)
        finished, buffer = split_finished(buffer)
        yield from finished
    buffer = (buffer + markers.flush()).strip()
    if is_finished(buffer):  # a fragment cut off by the token bound is dropped
        yield buffer


def compose(sentences: Iterable[str], query: str, passages: Sequence[Hit], grounds: set[int],
            policy: AnsweringPolicy, shown: str = "") -> Iterator[Sentence]:
    """The model's sentences that pass the checks, citing only passages in `grounds` (those holding key evidence),
    and saying more than what was `shown` before them (the lead quote)."""
    declines = policy.regex("declines")
    for sentence in sentences:
        if declines.search(sentence):
            # Past the calibrated evidence gate, a small model's "the documents don't say" was wrong
            # more often than right (on documents it never saw); it ends the model's part, and the
            # passages' own words are shown instead.
            return
        text, numbers = parse_markers(without_attribution(sentence, policy), len(passages))
        claim = _MARKERS.sub("", text)  # the "1" of "[1]" is no figure to find in the passages
        if not verified(claim, query, passages, policy) or mostly_in(claim, shown, policy.repeat_share):
            continue
        # The model's numbers only where the passage agrees, and only passages holding key evidence:
        # a sentence drawn from elsewhere has drifted from what answers the question.
        supported = [n for n in checked(claim, numbers, list(passages), policy.citation_support) if n in grounds]
        if not supported:
            continue
        if supported != numbers:
            text = claim + "".join(f" [{n}]" for n in supported)
        yield Sentence(text, tuple(supported))


def verified(sentence: str, question: str, passages: Sequence[Hit],
             policy: AnsweringPolicy = AnsweringPolicy()) -> bool:
    """True when the sentence adds something, and what it adds comes from the passages, not only their labels."""
    source = " ".join(p.labelled_text for p in passages)
    if any(number.rstrip(".,") not in source for number in _NUMBER.findall(sentence)):
        return False
    new_words = content_words(sentence) - content_words(question)
    if not new_words:
        return False
    if any(mostly_in(sentence, f"{p.title} {p.section}", policy.repeat_share) for p in passages):
        return False  # a passage's title or heading path repeated: a label, not an answer
    return share_found(new_words, content_words(source)) >= policy.sentence_support


def without_attribution(sentence: str, policy: AnsweringPolicy = AnsweringPolicy()) -> str:
    """The sentence without a lead-in like "According to the documents," or "The passage says that"
    (about the passages, not from them: its words would count as unsupported)."""
    rest = policy.regex("attribution").sub("", sentence, count=1)
    return rest[:1].upper() + rest[1:]
