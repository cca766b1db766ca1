"""Plain text: the first line is the title; a short line set off by blank lines is a heading."""
from __future__ import annotations

import re
from pathlib import Path

from ..cleaning import join_wrapped_lines, normalize
from ..types import Document
from .common import SectionBuilder, read_text, title_from_path

_HEADING_MAX_WORDS = 10


def load(path: Path) -> Document:
    paragraphs = [p for p in re.split(r"\n\s*\n", normalize(read_text(path))) if p.strip()]
    builder = SectionBuilder()
    title = None
    for number, paragraph in enumerate(paragraphs):
        if _looks_like_heading(paragraph):
            if number == 0:
                title = paragraph.strip()
            builder.heading(1 if number == 0 else 2, paragraph)
        else:
            builder.paragraph(join_wrapped_lines(paragraph))
    return Document(str(path), title or title_from_path(path), "text", builder.finish())


def _looks_like_heading(paragraph: str) -> bool:
    line = paragraph.strip()
    return (
        "\n" not in line
        and len(line.split(None, _HEADING_MAX_WORDS)) <= _HEADING_MAX_WORDS  # never splits a huge line whole
        and not re.search(r"[.,;!?]$", line)
        and line[:1].isupper()
    )
