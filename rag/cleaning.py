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
    pages, compared with their numbers masked; and, anywhere on its page, a short line holding that
    page's own counter ("PAGE 2 OF 3 • LOAN ID …"), which a PDF's content order may put mid-page."""
    page_lines = [page.split("\n") for page in pages]
    if len(pages) >= 3:
        page_edges = [set(lines[:EDGE_LINES] + lines[-EDGE_LINES:]) for lines in page_lines]
        counts = Counter(key for edges in page_edges for key in {_running_key(line) for line in edges})
        running = {key for key, count in counts.items()
                   if key and 2 * count > len(pages) and len(key) <= RUNNING_LINE_CHARS}
        page_lines = [[line for line in lines if line not in edges or _running_key(line) not in running]
                      for lines, edges in zip(page_lines, page_edges)]
    if len(pages) >= 2:
        page_lines = [[line for line in lines if not _is_page_counter(line, number, len(pages))]
                      for number, lines in enumerate(page_lines, start=1)]
    return ["\n".join(lines) for lines in page_lines]


def _running_key(line: str) -> str:
    return _DIGITS.sub("#", line.strip())


# "2 of 6", "Page 2 of 6", "PAGE 2 OF 6 •": a counter glued to the footer's next words ("2 of 3Learn more") too.
_PAGE_COUNTER = re.compile(r"(?<![\w/])(?:page\s*)?(\d{1,4})\s*(?:of|/)\s*(\d{1,4})(?![\d/])", re.IGNORECASE)


def _is_page_counter(line: str, number: int, total: int) -> bool:
    """A short line that counts this very page of this many pages: a counter, not text."""
    if len(line) > RUNNING_LINE_CHARS:
        return False
    return any(int(m.group(1)) == number and int(m.group(2)) == total for m in _PAGE_COUNTER.finditer(line))


def join_wrapped_lines(text: str, measure: bool = False) -> str:
    """Undo hard line wrapping: PDF lines and wrapped plain text become paragraphs.

    A line joins the previous one unless the previous ends a sentence and this one
    starts like a new item (capital, digit, bullet), or a blank line separates them.
    Words hyphenated across a break are rejoined. Each output line is kept as a list of
    pieces joined once at the end: a paragraph of a million wrapped lines stays linear.

    `measure` (PDF pages, where forms and tables set one short field or row per line):
    a line that starts with a capital or digit joins an unfinished previous line only
    when that line was full, its next word would not have fitted on it (judged against
    the longest lines nearby), and the previous line does not end in a figure ("$1,436",
    "2%", "4/16/2013") as a table row does. Without it, every row after the first long
    one ran into one 100-word "sentence" that no quote or check could use. A value too
    short to stand alone ("First Change 2%", "$533") stays with the short label line above
    it ("Limits on Interest Rate Changes First Change 2% Subsequent Changes 2%"), not the
    row above it: a row of three words is no sentence a quote or a check can use, and its
    label is what a question asks about.
    """
    raw_lines = [raw.strip() for raw in text.split("\n")]
    fills = _full_lines(raw_lines) if measure else None
    out: list[list[str]] = []  # pieces of each output line; [] is a blank line
    lengths: list[int] = []
    grouping = False  # the output line is a label gathering its short values
    for number, line in enumerate(raw_lines):
        bullet = _PDF_BULLET.match(line)
        if bullet:
            line = "- " + line[bullet.end():]
        if not line:
            if out and out[-1]:
                out.append([])
                lengths.append(0)
            continue
        field = bool(measure and out and out[-1] and not bullet and _is_field_value(line)
                     and lengths[-1] <= FIELD_LABEL_CHARS and out[-1][-1][-1:] not in _SENTENCE_END_CHARS
                     and (grouping or not _ENDS_IN_FIGURE.search(out[-1][-1][-4:])))
        grouping = field
        if out and out[-1] and not bullet and (
                field or _continues(out[-1][-1], lengths[-1], line, None if fills is None else fills[number - 1])):
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
# A line is full when it and the next line's first word would reach this share of the longest lines
# around it: proportional type fits a few more or fewer letters on a line than its neighbours. Rows
# of a table are alike in length, so a lower share would run them together again.
FULL_LINE_SHARE = 0.95
_NEIGHBOUR_LINES = 3  # lines either side whose longest sets the width a line is measured against
_ENDS_IN_FIGURE = re.compile(r"\d\s?%?$")  # "$1,436", "2%", "4/16/2013": searched in a line's last characters


# A form's value ("First Change 2%", "$533") of at most this many words and characters, holding a figure …
FIELD_VALUE_WORDS = 3
FIELD_VALUE_CHARS = 30
FIELD_LABEL_CHARS = 80  # … joins the line above while that line (its label, perhaps with values) is this short


def _is_field_value(line: str) -> bool:
    return len(line) <= FIELD_VALUE_CHARS and len(line.split()) <= FIELD_VALUE_WORDS and any(c.isdigit() for c in line)


def _full_lines(lines: list[str]) -> list[bool]:
    """For each line: was it full, so that the next line's first word would not have fitted on it?"""
    sizes = [len(line) for line in lines]
    full = []
    for i, line in enumerate(lines):
        nearby = max(sizes[max(0, i - _NEIGHBOUR_LINES): i + _NEIGHBOUR_LINES + 2])
        following = lines[i + 1].split(None, 1)[0] if i + 1 < len(lines) and lines[i + 1] else ""
        full.append(bool(line) and sizes[i] + 1 + len(following) >= FULL_LINE_SHARE * nearby
                    and not _ENDS_IN_FIGURE.search(line[-4:]))
    return full


def _continues(prev_piece: str, prev_length: int, line: str, prev_full: bool | None = None) -> bool:
    if line.startswith("- "):
        return False
    if line[:1].islower() or line[:1] in ",;)&":
        return True
    if prev_full is not None:
        return prev_piece[-1:] not in _SENTENCE_END_CHARS and prev_full
    return prev_piece[-1:] not in _SENTENCE_END_CHARS and prev_length > 40
