"""HTML and HTML templates: visible prose only, structured by headings.

Template markup (``{% … %}``, ``{{ … }}``, ``{# … #}``) is removed, but prose in
its string literals is kept: pages often hold their real text in template data,
such as ``{% set data = {"term": "…", "definition": "<p>…</p>"} %}``. A literal
under a key like ``term`` or ``title`` becomes a heading; other literals that read
as prose become paragraphs in place of the tag.
"""
from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

from bs4 import BeautifulSoup, CData, Comment, NavigableString, Tag
from bs4.element import PreformattedString

from ..cleaning import normalize
from ..types import Document
from .common import SectionBuilder, read_text, title_from_path

_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_\-]+)", re.I)
# No pattern here may take more than linear time on hostile input: an open delimiter is matched
# to its close with str.find, and a key or string literal is tried only where one can start.
_TITLE_OPEN = re.compile(r"\{%-?\s*block\s+title\s*-?%\}")
_TITLE_CLOSE = re.compile(r"\{%-?\s*endblock[^%]*%\}")  # [^%] stops at the next "{%": linear
# A key starts a word (a key that starts mid-word would end where the word does anyway).
_KEYED_STRING = re.compile(r"""["']?(?<![\w-])([A-Za-z_][\w-]*)["']?\s*:\s*(?=["'])""")
_STRING_FROM = {'"': re.compile(r'"(?:[^"\\]|\\.)*"'), "'": re.compile(r"'(?:[^'\\]|\\.)*'")}
_HEADING_KEYS = {"term", "title", "heading", "header", "name", "question", "label"}
_PROSE_MIN_WORDS = 4

_DROP = {"script", "style", "noscript", "template", "svg", "nav", "footer", "select", "option",
         "input", "button", "iframe", "object", "embed", "canvas", "head", "meta", "link"}
_BLOCKS = {"p", "div", "section", "article", "main", "aside", "header", "ul", "ol", "li", "dl", "dt",
           "dd", "table", "thead", "tbody", "tfoot", "tr", "blockquote", "pre", "figure", "figcaption",
           "form", "fieldset", "address", "details", "summary", "body", "html", "caption", "label"}
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_ITEMS = {"p", "li", "dt", "dd"}
_BOILERPLATE_CLASS = re.compile(r"breadcrumb|skip-?link|u-visually-hidden|sr-only|cookie|share|social", re.I)


def load(path: Path) -> Document:
    raw = path.read_bytes()[:4096]
    declared = _CHARSET.search(raw)
    source = read_text(path, declared.group(1).decode() if declared else None)
    markup, template_title = expand_template(source)
    # html.parser keeps template fragments where they stand; lxml would hoist them into <head>.
    soup = BeautifulSoup(markup, "html.parser")
    title = _title(soup) or template_title
    _drop_boilerplate(soup)
    builder = SectionBuilder()
    _walk(soup, builder)  # not just <body>: template text may stand outside it
    sections = builder.finish()
    title = normalize(title or builder.first_heading() or title_from_path(path))
    return Document(str(path), title, "html", sections)


def expand_template(source: str) -> tuple[str, str | None]:
    """Replace template tags by the prose their string literals carry."""
    source = _replace_delimited(source, [("{#", "#}")], lambda tag: " ")
    title = None
    opening = _TITLE_OPEN.search(source)
    closing = _TITLE_CLOSE.search(source, opening.end()) if opening else None
    if closing:
        title = normalize(html_lib.unescape(source[opening.end():closing.start()]))
        source = source[:opening.start()] + source[closing.end():]
    return _replace_delimited(source, [("{%", "%}"), ("{{", "}}")], _prose_of_tag), title


def _replace_delimited(text: str, pairs: list[tuple[str, str]], replace) -> str:
    """Each span from an opening to the first closing after it (at one place the first pair that
    matches wins) replaced by `replace(span)`. Once a closing is missing, that pair is done for."""
    out, cursor, position = [], 0, 0
    next_at = {opening: text.find(opening) for opening, _ in pairs}
    while True:
        for opening, at in next_at.items():
            if 0 <= at < position:
                next_at[opening] = text.find(opening, position)
        live = [at for at in next_at.values() if at >= 0]
        if not live:
            break
        start = min(live)
        for opening, closing in pairs:
            if next_at[opening] != start:
                continue
            end = text.find(closing, start + len(opening))
            if end < 0:
                next_at[opening] = -1  # no closing anywhere after: none later can match either
                continue
            out += [text[cursor:start], replace(text[start:end + len(closing)])]
            cursor = end + len(closing)
            break
        position = max(cursor, start + 1)
    out.append(text[cursor:])
    return "".join(out)


def _strings(tag: str, start: int = 0):
    """(start, end) of each quoted literal, left to right, as a regex search would find them. An
    unclosed literal means no later one of that quote closes either, so each kind fails once."""
    open_kinds = set(_STRING_FROM)
    position = start
    while open_kinds:
        found = [(tag.find(quote, position), quote) for quote in open_kinds]
        found = [item for item in found if item[0] >= 0]
        if not found:
            return
        at, quote = min(found)
        match = _STRING_FROM[quote].match(tag, at)
        if match:
            yield match.span()
            position = match.end()
        else:
            open_kinds.discard(quote)
            position = at + 1


def _prose_of_tag(tag: str) -> str:
    parts: list[str] = []
    keyed_spans = []
    position, unclosed = 0, set()
    while True:
        match = _KEYED_STRING.search(tag, position)
        if not match:
            break
        quote = tag[match.end()]
        literal = None if quote in unclosed else _STRING_FROM[quote].match(tag, match.end())
        if not literal:
            unclosed.add(quote)
            position = match.start() + 1
            continue
        keyed_spans.append(literal.span())
        position = literal.end()
        key, value = match.group(1).lower(), _unquote(literal.group(0))
        if key in _HEADING_KEYS and _is_words(value):
            parts.append(f"<h6>{value}</h6>")
        elif _is_prose(value):
            parts.append(f"<div>{value}</div>")
    for start, end in _strings(tag):
        if any(k_start <= start < k_end for k_start, k_end in keyed_spans):
            continue
        value = _unquote(tag[start:end])
        if _is_prose(value):
            parts.append(f"<p>{value}</p>")
    return "\n".join(parts) if parts else " "


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": " "}.get(m.group(1), m.group(1)), body)


def _visible_words(value: str) -> list[str]:
    return re.sub(r"<[^<>]+>", " ", value).split()


def _is_words(value: str) -> bool:
    words = _visible_words(value)
    return bool(words) and not re.search(r"[/\\{}]|\.(png|jpg|svg|html|js|css)\b", value) and len(words) <= 30


def _is_prose(value: str) -> bool:
    words = [w for w in _visible_words(value) if re.search(r"[A-Za-z]{2,}", w)]
    return len(words) >= _PROSE_MIN_WORDS and not re.match(r"^\s*(https?:|/|\.|#)", value)


def _title(soup: BeautifulSoup) -> str | None:
    tag = soup.find("title")
    text = normalize(tag.get_text(" ")) if tag else ""
    return text or None


def _drop_boilerplate(soup: BeautifulSoup) -> None:
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    doomed = []
    for tag in soup.find_all(True):
        if tag.name in _DROP or tag.get("role") in {"navigation", "banner", "contentinfo"}:
            doomed.append(tag)
        elif tag.get("aria-hidden") == "true" or tag.has_attr("hidden"):
            doomed.append(tag)
        elif _BOILERPLATE_CLASS.search(" ".join(tag.get("class") or [])):
            doomed.append(tag)
        elif tag.name == "header" and not tag.find_parent(["main", "article"]) and not tag.find(list(_HEADINGS)):
            doomed.append(tag)  # a site banner, not an article header
        elif tag.name in _ITEMS and tag.find("a") and _link_only(tag):
            doomed.append(tag)  # "Learn more about …": names another page, says nothing itself
    for tag in doomed:
        tag.decompose()


def _link_only(tag: Tag) -> bool:
    """True when every word of the block is link text."""
    own_text = "".join(str(s) for s in tag.find_all(string=True) if not s.find_parent("a"))
    return not re.search(r"[A-Za-z0-9]", own_text)


_NOT_TEXT = (Comment, PreformattedString)  # comments, <!doctype>, declarations, processing instructions


def _walk(root: BeautifulSoup, builder: SectionBuilder) -> None:
    """Paragraphs and headings in document order. An explicit stack, not recursion: markup may
    nest deeper than Python's recursion limit. Each block has its own run of inline text."""
    has_block = _tags_holding_blocks(root)
    stack: list[tuple] = [(iter(root.children), [])]
    while stack:
        children, inline = stack[-1]
        child = next(children, None)
        if child is None:
            _flush(inline, builder)
            stack.pop()
            if stack:
                _flush(stack[-1][1], builder)
        elif isinstance(child, NavigableString):
            if not isinstance(child, _NOT_TEXT) or isinstance(child, CData):
                inline.append(str(child))
        elif not isinstance(child, Tag):  # (no `.decomposed`: bs4 answers it with a search of the subtree)
            continue
        elif child.name in _HEADINGS:
            _flush(inline, builder)
            builder.heading(_HEADINGS[child.name], child.get_text(" "))
        elif child.name == "tr":
            _flush(inline, builder)
            cells = [re.sub(r"\s+", " ", c.get_text(" ")).strip() for c in child.find_all(["td", "th"])]
            builder.paragraph(" | ".join(c for c in cells if c))
        elif child.name == "br":
            inline.append("\n")
        elif child.name in _BLOCKS or id(child) in has_block:
            _flush(inline, builder)
            if child.name == "li":
                inline.append("- ")  # flushed after the item's own text, as a "-" paragraph of its own
            stack.append((iter(child.children), []))
        else:
            inline.append(child.get_text())


def _flush(inline: list[str], builder: SectionBuilder) -> None:
    text = "".join(inline)
    inline.clear()
    if text.strip():
        builder.paragraph(re.sub(r"\s+", " ", text))


def _tags_holding_blocks(root: BeautifulSoup) -> set[int]:
    """ids of the tags with a block or heading inside: one climb per block, stopping where an
    earlier climb passed, so deep nesting costs linear time, not a search per level."""
    holding: set[int] = set()
    for block in root.find_all(list(_BLOCKS | set(_HEADINGS))):
        parent = block.parent
        while parent is not None and id(parent) not in holding:
            holding.add(id(parent))
            parent = parent.parent
    return holding
