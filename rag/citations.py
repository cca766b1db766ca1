"""Citations: read the model's [n] markers, drop the impossible ones, fill in when none are given."""
from __future__ import annotations

import re

from .text import LOOSE_BREAK, content_words, share_found, split_sentences
from .types import Citation, Hit

_MARKER = re.compile(r"\s*\[(\s*\d+(?:\s*(?:,|;|and|-|–)\s*\d+)*\s*)\]")
_RANGE_SPAN = 10  # "[1-9]" is a range of passages; "[1-20]" is no citation anyone means
_LONGEST_MARKER = 16  # characters a "[" is held back for while its marker streams in


def parse_markers(text: str, n_passages: int) -> tuple[str, list[int]]:
    """The text with invalid markers removed, and the valid passage numbers in order of first use."""
    cited: list[int] = []

    def keep_valid(match: re.Match) -> str:
        numbers = _numbers(match.group(1))
        valid = [n for n in numbers if 1 <= n <= n_passages]
        for n in valid:
            if n not in cited:
                cited.append(n)
        return (" " + "".join(f"[{n}]" for n in valid)) if valid else ""

    return _MARKER.sub(keep_valid, text).strip(), cited


def _numbers(group: str) -> list[int]:
    numbers: list[int] = []
    for part in re.split(r"\s*(?:,|;|and)\s*", group.strip()):
        bounds = re.split(r"\s*[-–]\s*", part)
        if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit() and \
                int(bounds[1]) - int(bounds[0]) < _RANGE_SPAN:
            numbers.extend(range(int(bounds[0]), int(bounds[1]) + 1))
        elif part.isdigit():
            numbers.append(int(part))
    return numbers


def checked(text: str, numbers: list[int], passages: list[Hit], support: float) -> list[int]:
    """The cited numbers whose passage holds at least `support` of the text's content words;
    if none does, the passages that do."""
    words = content_words(text)
    kept = [n for n in numbers if share_found(words, content_words(passages[n - 1].labelled_text)) >= support]
    return kept or attribute(text, passages, support)


def attribute(text: str, passages: list[Hit], support: float) -> list[int]:
    """Passage numbers the answer's sentences come from, by word overlap (for uncited answers)."""
    words_of = [content_words(p.labelled_text) for p in passages]
    found: list[int] = []
    for sentence in split_sentences(text, boundary=LOOSE_BREAK):
        words = content_words(sentence)
        if not words:
            continue
        overlap = [share_found(words, passage) for passage in words_of]
        best = max(range(len(passages)), key=lambda i: overlap[i], default=None)
        if best is not None and overlap[best] >= support and best + 1 not in found:
            found.append(best + 1)
    return found


def citation(n: int, hit: Hit) -> Citation:
    return Citation(n=n, source=hit.source, title=hit.title, section=hit.section, page=hit.page,
                    chunk_id=hit.chunk_id, text=hit.text)


class MarkerFilter:
    """Cleans citation markers in a token stream: a "[" is held back until its marker
    is complete, then passed on if it names a real passage and dropped if not."""

    _PARTIAL = re.compile(r"\s*(?:\[[\d\s,;\-–and]*)?$")  # trailing space may precede a marker

    def __init__(self, n_passages: int):
        self.n_passages = n_passages
        self.pending = ""

    def feed(self, piece: str) -> str:
        self.pending += piece
        held = self._PARTIAL.search(self.pending)
        if held.group(0) and len(self.pending) - held.start() < _LONGEST_MARKER:
            ready, self.pending = self.pending[:held.start()], self.pending[held.start():]
        else:
            ready, self.pending = self.pending, ""
        return self._clean(ready)

    def flush(self) -> str:
        ready, self.pending = self.pending, ""
        return self._clean(ready)

    def _clean(self, text: str) -> str:
        return _MARKER.sub(lambda m: "".join(f" [{n}]" for n in _numbers(m.group(1)) if 1 <= n <= self.n_passages),
                           text)
