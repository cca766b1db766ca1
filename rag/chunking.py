"""Structure-aware chunking sized in the embedding model's own tokens.

A chunk never crosses a section (heading path or PDF page). Inside a section,
sentences are packed greedily up to the budget, with a few sentences of overlap
between neighbours. The text the embedder sees is a short context header
(document title and heading path) plus the chunk, and the whole of it fits the
model's window, so nothing is ever truncated by the embedder.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from .text import CLAUSE_BREAK as _SENTENCE_BREAK
from .types import Chunk, Document

TokenCounter = Callable[[Sequence[str]], list[int]]
# Stored in an index's manifest: a change makes the next ingest rebuild every document from its source
# instead of keeping passages cut from older text. 2: PDF pages read as headed sections, rows kept apart.
CHUNKER_VERSION = 2

_WORD = re.compile(r"\S+")
_MAX_HEADING_WORDS = 24
# Memory stays bounded on any input (a 50 MB line once took 11 GB): text goes to the tokenizer in
# calls of about this many characters, and no run of text longer than the next bound is counted
# whole. A word piece never stands for more than this many characters of real prose, so longer
# sentences are over budget anyway and are cut word by word; a longer word is cut by characters.
_COUNT_BATCH_CHARS = 100_000
_MAX_CHARS_PER_TOKEN = 64
_KNOWN_WORDS = 200_000  # word counts remembered while cutting one long sentence


@dataclass(frozen=True, slots=True)
class _Unit:
    start: int
    end: int
    tokens: int


class Chunker:
    def __init__(self, count_tokens: TokenCounter, max_tokens: int, overlap_tokens: int = 0):
        if max_tokens < 16:
            raise ValueError("max_tokens must be at least 16")
        self.count_tokens = count_tokens
        self.max_tokens = max_tokens
        self.overlap_tokens = max(0, min(overlap_tokens, max_tokens // 2))
        self.max_unit_chars = max_tokens * _MAX_CHARS_PER_TOKEN

    def chunk(self, document: Document, doc_id: str) -> list[Chunk]:
        chunks: list[Chunk] = []
        for section, offset in zip(document.sections, document.section_offsets()):
            header = self._header(document.title, section.headings)
            budget = self.max_tokens - self.count_tokens([header])[0]
            for start, end in self._fit(section.text, header, self._pack(section.text, budget), budget):
                text = section.text[start:end]
                chunks.append(Chunk(
                    text=text, embed_text=f"{header}\n{text}" if header else text,
                    doc_id=doc_id, source=document.source, title=document.title,
                    headings=section.headings, page=section.page,
                    start=offset + start, end=offset + end, ordinal=len(chunks),
                ))
        return chunks

    def _header(self, title: str, headings: tuple[str, ...]) -> str:
        """Title and heading path, shortened until it takes at most a third of the budget."""
        parts = [h for h in (title, *headings) if h]
        parts = [p for i, p in enumerate(parts) if i == 0 or p != parts[i - 1]]
        parts = [" ".join(p.split(None, _MAX_HEADING_WORDS)[:_MAX_HEADING_WORDS]) for p in parts]
        while parts:
            header = " > ".join(parts)
            if self.count_tokens([header])[0] <= self.max_tokens // 3:
                return header
            parts = parts[1:] if len(parts) > 1 else [" ".join(parts[0].split()[: len(parts[0].split()) // 2])]
            if parts == [""]:
                break
        return ""

    def _pack(self, text: str, budget: int) -> list[tuple[int, int]]:
        units = self._units(text, budget)
        spans: list[tuple[int, int]] = []
        first = 0
        while first < len(units):
            last, used = first, units[first].tokens
            while (last + 1 < len(units) and used + units[last + 1].tokens <= budget
                   and units[last + 1].end - units[first].start <= self.max_unit_chars):
                last += 1
                used += units[last].tokens
            spans.append((units[first].start, units[last].end))
            if last + 1 >= len(units):
                break
            first = self._overlap_start(units, first, last)
        return spans

    def _fit(self, text: str, header: str, spans, budget: int) -> list[tuple[int, int]]:
        """Re-pack any span whose real count is over the limit (tokenizers that are not additive)."""
        fitted = []
        for (start, end), total in zip(spans, self._count_spans(text, header, spans)):
            if total <= self.max_tokens or budget <= 1:
                fitted.append((start, end))
                continue
            smaller = max(1, budget * self.max_tokens // total - 1)
            inner = self._pack(text[start:end], smaller)
            fitted.extend(self._fit(text, header, [(start + s, start + e) for s, e in inner], smaller))
        return fitted

    def _count_spans(self, text: str, header: str, spans) -> Iterator[int]:
        """The real count of each span with its header, a bounded batch per tokenizer call."""
        batch: list[str] = []
        chars = 0
        for start, end in spans:
            batch.append(f"{header}\n{text[start:end]}" if header else text[start:end])
            chars += len(batch[-1])
            if chars >= _COUNT_BATCH_CHARS:
                yield from self.count_tokens(batch)
                batch, chars = [], 0
        yield from self.count_tokens(batch)

    def _overlap_start(self, units: list[_Unit], first: int, last: int) -> int:
        """Where the next chunk starts: back over at most `overlap_tokens` of sentences."""
        start, carried = last + 1, 0
        while start - 1 > first and carried + units[start - 1].tokens <= self.overlap_tokens:
            start -= 1
            carried += units[start].tokens
        return start

    def _units(self, text: str, budget: int) -> list[_Unit]:
        units: list[_Unit] = []
        batch: list[tuple[int, int]] = []
        batch_chars = 0

        def count_batch() -> None:
            nonlocal batch_chars
            for (start, end), tokens in zip(batch, self.count_tokens([text[s:e] for s, e in batch])):
                if tokens <= budget:
                    units.append(_Unit(start, end, tokens))
                else:
                    units.extend(self._split_long(text, start, end, budget))
            batch.clear()
            batch_chars = 0

        for start, end in _sentence_spans(text):
            if end - start > self.max_unit_chars:
                count_batch()
                units.extend(self._split_long(text, start, end, budget))
                continue
            batch.append((start, end))
            batch_chars += end - start
            if batch_chars >= _COUNT_BATCH_CHARS:
                count_batch()
        count_batch()
        return units

    def _split_long(self, text: str, start: int, end: int, budget: int) -> list[_Unit]:
        """Cut an over-long sentence at word boundaries; a lone huge word is cut by characters.
        Words are counted a window at a time; a piece also ends before it outgrows `max_unit_chars`."""
        pieces: list[_Unit] = []
        piece_start, prev_end, used = None, start, 0
        known: dict[str, int] = {}  # a word's count, reused: a long run of text repeats its words
        for window in self._word_windows(text, start, end):
            words = [text[s:e] for s, e in window]
            if len(known) > _KNOWN_WORDS:
                known.clear()
            new = list(dict.fromkeys(w for w in words if w not in known))
            known.update(zip(new, self.count_tokens(new)))
            for (w_start, w_end), tokens in zip(window, (known[w] for w in words)):
                if piece_start is not None and (used + tokens > budget or w_end - piece_start > self.max_unit_chars):
                    pieces.append(_Unit(piece_start, prev_end, used))
                    piece_start, used = None, 0
                if tokens > budget:
                    pieces.extend(self._split_word(text, w_start, w_end, budget))
                    continue
                if piece_start is None:
                    piece_start = w_start
                used += tokens
                prev_end = w_end
        if piece_start is not None:
            pieces.append(_Unit(piece_start, prev_end, used))
        return pieces

    def _word_windows(self, text: str, start: int, end: int) -> Iterator[list[tuple[int, int]]]:
        """Words of text[start:end] in lists of bounded total size; a word longer than
        `max_unit_chars` comes as several such segments."""
        window: list[tuple[int, int]] = []
        chars = 0
        for match in _WORD.finditer(text, start, end):
            w_start, w_end = match.span()
            if w_end - w_start > self.max_unit_chars:
                window.extend(_segments(w_start, w_end, self.max_unit_chars))
            else:
                window.append((w_start, w_end))
            chars += w_end - w_start
            if chars >= _COUNT_BATCH_CHARS or len(window) >= 4096:
                yield window
                window, chars = [], 0
        if window:
            yield window

    def _split_word(self, text: str, start: int, end: int, budget: int) -> list[_Unit]:
        size = max(1, (end - start) * budget // max(1, self.count_tokens([text[start:end]])[0]))
        pieces = []
        while start < end:
            stop = min(end, start + size)
            while stop - start > 1 and self.count_tokens([text[start:stop]])[0] > budget:
                stop = start + (stop - start) // 2
            pieces.append(_Unit(start, stop, self.count_tokens([text[start:stop]])[0]))
            start = stop
        return pieces


def _segments(start: int, end: int, size: int):
    while end - start > size:
        yield start, start + size
        start += size
    yield start, end


def _sentence_spans(text: str):
    """(start, end) of each sentence or line, trimmed of surrounding space."""
    for line in re.finditer(r"[^\n]+", text):
        cursor = line.start()
        for brk in _SENTENCE_BREAK.finditer(line.group(0)):
            yield from _trimmed(text, cursor, line.start() + brk.start())
            cursor = line.start() + brk.end()
        yield from _trimmed(text, cursor, line.end())


def _trimmed(text: str, start: int, end: int):
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield start, end


__all__ = ["Chunker", "CHUNKER_VERSION", "TokenCounter"]
