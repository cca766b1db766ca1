"""Sentences and word overlap: the two text measures every answering stage shares.

One sentence rule — a full stop, "!" or "?" (closing quotes or brackets after it),
white space, then what opens a sentence (a capital, a digit, "$", perhaps after an
opening quote) — read in three ways where the readers need different things:
- `split_sentences`: prose cut into sentences (quotes, tuning data);
- `CLAUSE_BREAK`: the same rule also at ";" and ":", for chunking, which wants more
  places to cut a long paragraph;
- `LOOSE_BREAK`: after any full stop, whatever follows. The prompt packer and the
  citation attribution have always cut this way; cutting at `SENTENCE_BREAK` instead
  would change which words a shortened passage keeps, and so the answers.
- `first_sentence`: an answer's lead, its closing quote and citation markers kept
  (what evaluation calls the answer's first sentence);
- `split_finished`: the model's streamed reply, where a sentence keeps the citation
  markers written after its full stop and no cut is made while a marker may still be
  arriving.

One overlap measure: `content_words` (lower case, no stop words, plural folding) and
`share_found`, the share of one text's content words found in another; `mostly_in`
is that share over a threshold. The stop words and the folding are English.
"""
from __future__ import annotations

import re

STOP_WORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers
him his how i if in into is it its itself just me more most my no nor not of off on once only or other our ours
out over own same she should so some such than that the their theirs them then there these they this those
through to too under until up very was we were what when where which while who whom why will with would you
your yours yourself also may might must shall get got much many one two use used us per via etc
""".split())
_WORD = re.compile(r"[a-z0-9$%]+(?:[.'’-][a-z0-9]+)*")


def _sentence_break(ends: str, closers: str, openers: str) -> re.Pattern:
    return re.compile(rf"(?<=[{ends}])[{closers}]*\s+(?=[{openers}]?[A-Z0-9$])")


SENTENCE_BREAK = _sentence_break(".!?", r"\"”’)", r"\"“(")
CLAUSE_BREAK = _sentence_break(".!?;:", r"\"”’)\]", r"\"“(\[")
LOOSE_BREAK = re.compile(r"(?<=[.!?])\s+")
# The group keeps a sentence's markers with it; no cut before a "[" whose marker may still be streaming in.
_STREAMED_BREAK = re.compile(r"(?<=[.!?])((?:\s*\[\d+\])*)\s+(?![\s\[])")
_FINISHED = re.compile(r"[.!?](?:\s*\[\d+\])*$")
_FIRST = re.compile(r"\s*(.*?[.!?][\"”’)]*(?:\s*\[\d+\])*)(?=\s+[\"“(]?[A-Z0-9$]|\s*$)", re.DOTALL)


def split_sentences(text: str, lines: bool = False, boundary: re.Pattern = SENTENCE_BREAK) -> list[str]:
    """The text's sentences (pieces as cut, not stripped); `lines` also cuts at every line break."""
    if lines:
        return re.split(boundary.pattern + r"|\n+", text)
    return boundary.split(text)


def first_sentence(text: str) -> str:
    """The text's first sentence, with the closing quote and citation markers that follow its full stop."""
    match = _FIRST.match(text)
    return match.group(1) if match else text.strip()


def split_finished(buffer: str) -> tuple[list[str], str]:
    """The finished sentences at the start of a streamed reply (stripped, markers kept), and the rest."""
    *parts, rest = _STREAMED_BREAK.split(buffer)
    sentences = (text + markers for text, markers in zip(parts[0::2], parts[1::2]))
    return [s.strip() for s in sentences if s.strip()], rest


def is_finished(sentence: str) -> bool:
    """True when the text ends like a sentence (markers after the full stop allowed), not cut off."""
    return bool(_FINISHED.search(sentence))


def content_words(text: str) -> set[str]:
    return {_fold(w) for w in _WORD.findall(text.lower()) if w not in STOP_WORDS and len(w) > 1}


def share_found(words: set[str], found_in: set[str], if_empty: float = 0.0) -> float:
    """The share of `words` that `found_in` holds; `if_empty` when there are no words to look for."""
    return len(words & found_in) / len(words) if words else if_empty


def mostly_in(text: str, other: str, share: float) -> bool:
    """True when at least `share` of the text's content words occur in `other` (a repeat, in effect)."""
    words = content_words(text)
    return bool(words) and share_found(words, content_words(other)) >= share


def _fold(word: str) -> str:
    word = word.replace("’", "'").removesuffix("'s")
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word
