"""Content words for overlap measures: lower case, no stop words, crude plural folding."""
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


def content_words(text: str) -> set[str]:
    return {_fold(w) for w in _WORD.findall(text.lower()) if w not in STOP_WORDS and len(w) > 1}


def mostly_in(text: str, other: str, share: float = 0.8) -> bool:
    """True when at least `share` of the text's content words occur in `other` (a repeat, in effect)."""
    words = content_words(text)
    return bool(words) and len(words & content_words(other)) / len(words) >= share


def _fold(word: str) -> str:
    word = word.replace("’", "'").removesuffix("'s")
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word
