"""Markdown: ATX and setext headings make the section path; markup is stripped."""
from __future__ import annotations

import re
from pathlib import Path

from ..types import Document
from .common import SectionBuilder, read_text, title_from_path

# Every pattern runs in linear time on any line: no two adjacent quantifiers can share characters,
# and a span from an opening to a closing never passes another opening, so a failed attempt is
# not repeated from each later start (a long run of spaces once took a minute, a line of "![" hours).
_SETEXT = re.compile(r"^(=+|-+)\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+")
_TABLE_CELL_RULE = re.compile(r":?-{3,}:?")
_INLINE = [
    (re.compile(r"!\[[^\[\]]*\]\([^()]*\)"), ""),  # images
    (re.compile(r"\[([^\[\]]*)\]\([^()]*\)"), r"\1"),  # links keep their text
    (re.compile(r"<https?://[^<>]+>"), ""),
    (re.compile(r"</?[A-Za-z][^<>]*>"), ""),  # inline HTML tags
    (re.compile(r"(\*\*|__)((?:(?!\1).)+?)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?!\s)([^*]+?)(?<!\s)\*(?![\w*])"), r"\1"),
    (re.compile(r"`([^`]*)`"), r"\1"),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!|])"), r"\1"),
]


def strip_inline(text: str) -> str:
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return text


def load(path: Path) -> Document:
    lines = read_text(path).split("\n")
    meta_title, lines = _front_matter(lines)
    builder = SectionBuilder()
    block: list[str] = []
    in_fence = False

    def flush_block() -> None:
        if block:
            builder.paragraph(_join_block(block))
            block.clear()

    for index, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        if in_fence:
            block.append("- " + line.strip() if line.strip() else "")
            continue
        heading = _atx_heading(line)
        if heading:
            flush_block()
            builder.heading(heading[0], strip_inline(heading[1]))
        elif _SETEXT.match(line) and len(block) == 1 and index > 0 and lines[index - 1].strip():
            text = block.pop()
            builder.heading(1 if line.strip().startswith("=") else 2, strip_inline(text))
        elif not line.strip():
            flush_block()
        elif not _is_table_rule(line):
            block.append(line)
    flush_block()
    sections = builder.finish()
    title = meta_title or builder.first_heading() or title_from_path(path)
    return Document(source=str(path), title=title, kind="markdown", sections=sections)


def _atx_heading(line: str) -> tuple[int, str] | None:
    """(level, text) of "## Text ##": one to six #, a space, the text without closing #s."""
    level = len(line) - len(line.lstrip("#"))
    if not 1 <= level <= 6 or len(line) == level or not line[level].isspace():
        return None
    return level, line[level:].strip().rstrip("#").rstrip()


def _is_table_rule(line: str) -> bool:
    """A table's header rule, "| --- | :---: |"."""
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") else inner
    return all(_TABLE_CELL_RULE.fullmatch(cell.strip()) for cell in inner.split("|"))


def _join_block(lines: list[str]) -> str:
    """Wrapped lines join with spaces; list items and table rows keep their own line."""
    out: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("|"):
            cells = [strip_inline(c.strip()) for c in stripped.strip("|").split("|")]
            out.append(" | ".join(c for c in cells if c))
        elif _LIST_ITEM.match(line) or not out:
            out.append(strip_inline(_LIST_ITEM.sub("- ", stripped, count=1) if _LIST_ITEM.match(line) else stripped))
        else:
            out[-1] += " " + strip_inline(stripped)
    return "\n".join(out)


def _front_matter(lines: list[str]) -> tuple[str | None, list[str]]:
    if not lines or lines[0].strip() != "---":
        return None, lines
    for end in range(1, min(len(lines), 200)):
        if lines[end].strip() in {"---", "..."}:
            title = None
            for line in lines[1:end]:
                if line.lower().startswith("title:"):
                    title = line.split(":", 1)[1].strip().strip("'\"") or None
            return title, lines[end + 1:]
    return None, lines
