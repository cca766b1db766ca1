"""Helpers the text-based loaders share: safe decoding and section building."""
from __future__ import annotations

import re
from pathlib import Path

from ..cleaning import normalize
from ..errors import LoaderError
from ..types import Section


def read_text(path: Path, encoding: str | None = None) -> str:
    """Read a text file as UTF-8 (or a declared encoding), refusing binary data."""
    data = path.read_bytes()
    if not data.strip():
        raise LoaderError("empty file")
    if b"\x00" in data[:8192]:
        raise LoaderError("binary data, not text; check the file's real type")
    try:
        return data.decode(encoding or "utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoaderError(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); re-save the file as UTF-8"
        ) from None
    except LookupError:
        raise LoaderError(f"unknown text encoding '{encoding}' declared in the file") from None


def title_from_path(path: Path) -> str:
    words = re.sub(r"[_\-\s]+", " ", path.stem).strip()
    return words[:1].upper() + words[1:] if words else path.name


class SectionBuilder:
    """Collects paragraphs under a heading stack and emits one `Section` per heading."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self._headings: list[tuple[int, str]] = []
        self._paragraphs: list[str] = []
        self.page: int | None = None
        self.top_heading: str | None = None

    def heading(self, level: int, text: str) -> None:
        text = normalize(text)
        if not text:
            return
        self.flush()
        if level == 1 and self.top_heading is None:
            self.top_heading = text
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()
        self._headings.append((level, text))

    def paragraph(self, text: str) -> None:
        text = normalize(text)
        if text:
            self._paragraphs.append(text)

    def flush(self) -> None:
        if self._paragraphs:
            headings = tuple(h for _, h in self._headings)
            self.sections.append(Section("\n\n".join(self._paragraphs), headings, self.page))
            self._paragraphs = []

    def first_heading(self) -> str | None:
        """The first level-1 heading: the usual place for a document's title."""
        return self.top_heading

    def finish(self) -> list[Section]:
        self.flush()
        return self.sections
