"""Text repair shared by every loader: Unicode, whitespace, PDF line breaks and running heads."""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import Sequence

# Characters that carry no text: zero-width marks, soft hyphens, BOMs.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"), None)
# PDFs set in a symbol-encoded font can give their text as private-use code points
# U+F020–U+F07E, each the ASCII character 0xF000 below it: read them as that text.
_SYMBOL_FONT_ASCII = {code: code - 0xF000 for code in range(0xF020, 0xF07F)}
_BULLET_GLYPHS = "\uf0a7\uf0b7\uf0d8"  # symbol-font bullets, kept for the line joiner
# Any other private-use code point is a font's own icon (checkbox, arrow, input box): no text.
_ICONS = {code: None for code in range(0xE000, 0xF900) if chr(code) not in _BULLET_GLYPHS}
_REPAIRS = {**_ICONS, **_INVISIBLE, **_SYMBOL_FONT_ASCII}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")
# Glyphs PDFs use for bullets and checkboxes (Wingdings "§"; "¨", which NFKC leaves as a bare
# combining diaeresis) at the start of a line.
_PDF_BULLET = re.compile(r"^\s*[•▪◦●■□☐✓✔§¨\u0308\uf0a7\uf0b7\uf0d8]\s+")
_DIGITS = re.compile(r"\d+")
RUNNING_LINE_CHARS = 80  # a running head or foot is a short line …
EDGE_LINES = 8  # … among a page's first or last lines
# Dot leaders, fill-in blanks and undecodable glyph runs carry no text.
_LEADERS = re.compile(r"[\ufffd]+|[_.·…\-–—]{4,}")
_SENTENCE_END = re.compile(r"[.!?:;)\]”\"]$")


def normalize(text: str) -> str:
    """Unicode NFKC, no invisible or control characters, tidy spaces and blank lines."""
    text = unicodedata.normalize("NFKC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub(" ", text.translate(_REPAIRS))
    text = _LEADERS.sub(" ", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def drop_running_lines(pages: Sequence[str]) -> list[str]:
    """Pages without the running heads and feet ("Learn more at …", "2 of 6") that belong to the
    layout, not to any page's text: short lines that sit among the first or last lines of most
    pages, compared with their numbers masked."""
    if len(pages) < 3:
        return list(pages)
    page_lines = [page.split("\n") for page in pages]
    page_edges = [set(lines[:EDGE_LINES] + lines[-EDGE_LINES:]) for lines in page_lines]
    counts = Counter(key for edges in page_edges for key in {_running_key(line) for line in edges})
    running = {key for key, count in counts.items()
               if key and 2 * count > len(pages) and len(key) <= RUNNING_LINE_CHARS}
    return ["\n".join(line for line in lines if line not in edges or _running_key(line) not in running)
            for lines, edges in zip(page_lines, page_edges)]


def _running_key(line: str) -> str:
    return _DIGITS.sub("#", line.strip())


def join_wrapped_lines(text: str) -> str:
    """Undo hard line wrapping: PDF lines and wrapped plain text become paragraphs.

    A line joins the previous one unless the previous ends a sentence and this one
    starts like a new item (capital, digit, bullet), or a blank line separates them.
    Words hyphenated across a break are rejoined.
    """
    out: list[str] = []
    for raw in text.split("\n"):
        line = raw.strip()
        bullet = _PDF_BULLET.match(line)
        if bullet:
            line = "- " + line[bullet.end():]
        if not line:
            if out and out[-1] != "":
                out.append("")
            continue
        if out and out[-1] and not bullet and _continues(out[-1], line):
            prev = out[-1]
            if re.search(r"[A-Za-z]-$", prev) and line[:1].islower():
                out[-1] = prev[:-1] + line
            else:
                out[-1] = prev + " " + line
        else:
            out.append(line)
    return "\n".join(out).strip()


def _continues(prev: str, line: str) -> bool:
    if line.startswith("- "):
        return False
    if line[:1].islower() or line[:1] in ",;)":
        return True
    return not _SENTENCE_END.search(prev) and len(prev) > 40
