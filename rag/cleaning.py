"""Text repair shared by every loader: Unicode, whitespace, PDF line breaks and running heads."""
from __future__ import annotations

import os
import re
import sys
import unicodedata
from collections import Counter
from functools import lru_cache
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
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # and lone surrogates
# Unicode normalisation reorders a run of combining marks in quadratic time; no script stacks more
# than a handful on one letter, so a longer run ("Zalgo" text) keeps only its first ones.
MAX_COMBINING_MARKS = 16
# Every combining mark lies above U+02FF: only runs of such characters need the (slower) exact test.
_NON_LATIN_RUN = re.compile(f"[^\\x00-\\u02ff]{{{MAX_COMBINING_MARKS + 1},}}")
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


def display_path(path) -> str:
    """A path as text that prints and stores anywhere: bytes that are not UTF-8 (a file name may hold
    any) shown escaped, as in "bad-\\xff.md". The path itself is kept losslessly elsewhere."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def normalize(text: str) -> str:
    """Unicode NFKC, no invisible or control characters, tidy spaces and blank lines."""
    text = _NON_LATIN_RUN.sub(lambda run: _combining_runs().sub(_first_marks, run.group(0)), text)
    text = unicodedata.normalize("NFKC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub(" ", text.translate(_REPAIRS))
    text = _LEADERS.sub(" ", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _first_marks(run: re.Match) -> str:
    return run.group(0)[:MAX_COMBINING_MARKS]


@lru_cache(maxsize=1)
def _combining_runs() -> re.Pattern:
    marks = [code for code in range(sys.maxunicode + 1) if unicodedata.combining(chr(code))]
    ranges, start = [], marks[0]
    for previous, code in zip(marks, marks[1:] + [-1]):
        if code != previous + 1:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(previous))}" if previous > start
                          else re.escape(chr(start)))
            start = code
    return re.compile(f"[{''.join(ranges)}]{{{MAX_COMBINING_MARKS + 1},}}")


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
    Words hyphenated across a break are rejoined. Each output line is kept as a list of
    pieces joined once at the end: a paragraph of a million wrapped lines stays linear.
    """
    out: list[list[str]] = []  # pieces of each output line; [] is a blank line
    lengths: list[int] = []
    for raw in text.split("\n"):
        line = raw.strip()
        bullet = _PDF_BULLET.match(line)
        if bullet:
            line = "- " + line[bullet.end():]
        if not line:
            if out and out[-1]:
                out.append([])
                lengths.append(0)
            continue
        if out and out[-1] and not bullet and _continues(out[-1][-1], lengths[-1], line):
            last = out[-1][-1]
            if len(last) >= 2 and last[-1] == "-" and last[-2] in _ASCII_LETTERS and line[:1].islower():
                out[-1][-1] = last[:-1]
                out[-1].append(line)
                lengths[-1] += len(line) - 1
            else:
                out[-1].append(" " + line)
                lengths[-1] += len(line) + 1
        else:
            out.append([line])
            lengths.append(len(line))
    return "\n".join("".join(pieces) for pieces in out).strip()


_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SENTENCE_END_CHARS = frozenset(".!?:;)]”\"")


def _continues(prev_piece: str, prev_length: int, line: str) -> bool:
    if line.startswith("- "):
        return False
    if line[:1].islower() or line[:1] in ",;)":
        return True
    return prev_piece[-1:] not in _SENTENCE_END_CHARS and prev_length > 40
