"""PDF via pypdf, page by page; every section keeps its 1-based page number.

Page text is repaired for reading as sentences: running heads and page counters dropped,
wrapped lines joined into paragraphs while form fields and table rows stay one per line
(`join_wrapped_lines(measure=True)`), and a form's spaced figures ("$ 59.01", "( 12 months)")
closed up as they are written in prose. A line set alone in a larger type than the body text
is a heading: it starts a section (on that page, and carried onto the next pages until the
next heading), so a chunk's header and a quote's context name it as for Markdown.
"""
from __future__ import annotations

import logging
import math
import re
import warnings
from collections import Counter
from pathlib import Path

from ..cleaning import drop_running_lines, join_wrapped_lines, normalize
from ..errors import LoaderError
from ..types import Document, Section
from .common import title_from_path


def load(path: Path) -> Document:
    if path.stat().st_size == 0:
        raise LoaderError("empty file")
    pages, metadata_title, sized = _read(path)
    title = str(metadata_title).strip() if metadata_title else ""
    headings = _heading_lines(sized, normalize(title))
    sections = []
    heading = ""  # a section runs on over page breaks until the next heading
    for number, page in enumerate(drop_running_lines([normalize(raw) for raw in pages]), start=1):
        block: list[str] = []
        for line in page.split("\n") + [None]:
            if line is not None and line not in headings[number - 1]:
                block.append(line)
                continue
            text = tidy_figures(join_wrapped_lines("\n".join(block), measure=True))
            if text:
                sections.append(Section(text=text, headings=(heading,) if heading else (), page=number))
            block = []
            if line is not None:
                heading = line
    if not sections:
        raise LoaderError("no extractable text (an image-only or scanned PDF needs OCR first)")
    if not title or title.lower() in {"untitled", "microsoft word"}:
        title = (title_from_path(path) if _descriptive_name(path) else "") or _first_line(sections[0].text) \
            or title_from_path(path)
    return Document(str(path), normalize(title), "pdf", sections)


# "$ 59.01" → "$59.01", "( 12 months)" → "(12 months)": forms set figures in boxes that extraction spaces out.
_SPACED_CURRENCY = re.compile(r"([$€£]) +(?=\d)")
_SPACED_BRACKETS = re.compile(r"\( +| +\)")


def tidy_figures(text: str) -> str:
    return _SPACED_BRACKETS.sub(lambda m: m.group(0).strip(), _SPACED_CURRENCY.sub(r"\1", text))


_NAME_WORD = re.compile(r"[A-Za-z]{3,}")
_GENERIC_NAMES = frozenset("scan scanned document doc file img image page untitled copy download print pdf".split())


def _descriptive_name(path: Path) -> bool:
    """A file name that says what the PDF is ("adjustable_rate_loan_estimate"), a better title than a
    form's first extracted line, which follows content order, not the page ("Loan Terms Can this …?");
    "scan0001" or "document (3)" says nothing."""
    words = [w.lower() for w in _NAME_WORD.findall(path.stem)]
    return len([w for w in words if w not in _GENERIC_NAMES]) >= 2


def _read(path: Path) -> tuple[list[str], object, list[list[tuple[str, float]]]]:
    """Each page's raw text, the metadata title, and each page's text pieces with their type size.
    pypdf logs and warns about every malformed object it recovers from (a hundred lines for one bad
    file); the reason a file cannot be used is reported by the ingest, so the rest is kept off the
    terminal."""
    import pypdf

    logging.getLogger("pypdf").setLevel(logging.CRITICAL + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            reader = pypdf.PdfReader(str(path))
            if reader.is_encrypted and not _try_empty_password(reader):
                raise LoaderError("encrypted PDF; save an unencrypted copy to index it")
            pages, sized = [], []
            for page in reader.pages:
                pieces: list[tuple[str, float]] = []
                pages.append(page.extract_text(visitor_text=_sizes_into(pieces)) or "")
                sized.append(pieces)
            metadata_title = (reader.metadata or {}).get("/Title") if reader.metadata else None
        except (LoaderError, MemoryError):
            raise
        except Exception as exc:  # pypdf raises many types on malformed input; any of them means "corrupt"
            raise LoaderError(f"corrupt or unreadable PDF ({type(exc).__name__}: {str(exc)[:80]})") from None
    return pages, metadata_title, sized


# A heading is set at least this much larger than the body (the size most of the text is set in) …
HEADING_SIZE_RATIO = 1.2
HEADING_MAX_WORDS = 12  # … in a few words, alone on its line, not ending like a sentence or a field
_NOT_HEADING_END = re.compile(r"[.,;:]$")
_MAX_PIECES = 200_000  # sized pieces kept per document: a hostile file cannot grow this list without bound


def _sizes_into(pieces: list[tuple[str, float]]):
    """A pypdf text visitor that keeps each piece of text with the height it is drawn at."""
    def visit(text, cm, tm, font_dict, font_size) -> None:
        if not text or not text.strip() or len(pieces) >= _MAX_PIECES:
            return
        try:
            size = float(font_size) * math.hypot(float(tm[2]), float(tm[3])) * math.hypot(float(cm[2]), float(cm[3]))
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        if math.isfinite(size) and size > 0:
            pieces.append((text, round(size, 1)))
    return visit


def _heading_lines(sized: list[list[tuple[str, float]]], title: str) -> list[set[str]]:
    """For each page, the lines that are headings: a piece set alone in a larger type than the body,
    a few words that do not end like a sentence, and not a line of a larger-type paragraph (a
    neighbouring piece the same size) nor the document's title."""
    weight: Counter = Counter()
    for pieces in sized:
        for text, size in pieces:
            weight[size] += len(text.strip())
    if not weight:
        return [set() for _ in sized]
    body = weight.most_common(1)[0][0]
    found = []
    for pieces in sized:
        lines = [(normalize(text), size) for text, size in pieces]
        lines = [(text, size) for text, size in lines if text]
        page = set()
        for i, (text, size) in enumerate(lines):
            alone = all(lines[j][1] != size for j in (i - 1, i + 1) if 0 <= j < len(lines))
            if (size >= HEADING_SIZE_RATIO * body and alone and "\n" not in text
                    and len(text.split(None, HEADING_MAX_WORDS)) <= HEADING_MAX_WORDS
                    and any(c.isalpha() for c in text) and not _NOT_HEADING_END.search(text)
                    and text.casefold() != title.casefold()):
                page.add(text)
        found.append(page)
    return found


def _try_empty_password(reader) -> bool:
    try:
        return bool(reader.decrypt(""))
    except Exception:  # pypdf raises several types for unsupported crypto
        return False


def _first_line(text: str) -> str:
    line = text.split("\n", 1)[0].strip()
    return line if 0 < len(line.split(None, 14)) <= 14 else ""
