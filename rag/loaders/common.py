"""Helpers the text-based loaders share: safe decoding and section building."""
from __future__ import annotations

import codecs
import re
from pathlib import Path

from ..cleaning import display_path, normalize
from ..errors import LoaderError
from ..types import Section


# Longest first: the UTF-32 little-endian mark begins with the UTF-16 one.
_BYTE_ORDER_MARKS = [(codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                     (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")]


def read_text(path: Path, encoding: str | None = None) -> str:
    """Read a text file as UTF-8 (or UTF-16/32 with a byte-order mark, or a declared encoding),
    refusing binary data."""
    data = path.read_bytes()
    marked = next((name for mark, name in _BYTE_ORDER_MARKS if data.startswith(mark)), None)
    if marked:  # a byte-order mark outranks any declaration inside the text
        encoding = marked
    elif b"\x00" in data[:8192]:
        raise LoaderError("binary data, not text; check the file's real type")
    try:
        text = data.decode(encoding or "utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoaderError(
            f"not valid {(encoding or 'UTF-8').upper()} (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "re-save the file as UTF-8"
        ) from None
    except LookupError:
        raise LoaderError(f"unknown text encoding '{encoding}' declared in the file") from None
    if not text.strip("\ufeff \t\r\n\x0b\x0c"):
        raise LoaderError("empty file")
    return text


def title_from_path(path: Path) -> str:
    words = re.sub(r"[_\-\s]+", " ", display_path(path.stem)).strip()
    return words[:1].upper() + words[1:] if words else display_path(path.name)


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
