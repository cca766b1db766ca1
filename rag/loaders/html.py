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

from bs4 import BeautifulSoup, Comment, NavigableString, Tag

from ..cleaning import normalize
from ..types import Document
from .common import SectionBuilder, read_text, title_from_path

_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_\-]+)", re.I)
_TEMPLATE_COMMENT = re.compile(r"\{#.*?#\}", re.S)
_TITLE_BLOCK = re.compile(r"\{%-?\s*block\s+title\s*-?%\}(.*?)\{%-?\s*endblock[^%]*%\}", re.S)
_TEMPLATE_TAG = re.compile(r"\{%.*?%\}|\{\{.*?\}\}", re.S)
_KEYED_STRING = re.compile(r"""["']?([A-Za-z_][\w-]*)["']?\s*:\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""")
_STRING = re.compile(r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'""")
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
    source = _TEMPLATE_COMMENT.sub(" ", source)
    title_match = _TITLE_BLOCK.search(source)
    title = normalize(html_lib.unescape(title_match.group(1))) if title_match else None
    if title_match:
        source = source[:title_match.start()] + source[title_match.end():]
    return _TEMPLATE_TAG.sub(lambda m: _prose_of_tag(m.group(0)), source), title


def _prose_of_tag(tag: str) -> str:
    parts: list[str] = []
    keyed_spans = []
    for match in _KEYED_STRING.finditer(tag):
        keyed_spans.append(match.span(2))
        key, value = match.group(1).lower(), _unquote(match.group(2))
        if key in _HEADING_KEYS and _is_words(value):
            parts.append(f"<h6>{value}</h6>")
        elif _is_prose(value):
            parts.append(f"<div>{value}</div>")
    for match in _STRING.finditer(tag):
        if any(start <= match.start() < end for start, end in keyed_spans):
            continue
        value = _unquote(match.group(0))
        if _is_prose(value):
            parts.append(f"<p>{value}</p>")
    return "\n".join(parts) if parts else " "


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": " "}.get(m.group(1), m.group(1)), body)


def _visible_words(value: str) -> list[str]:
    return re.sub(r"<[^>]+>", " ", value).split()


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


def _walk(node: Tag, builder: SectionBuilder) -> None:
    inline: list[str] = []

    def flush() -> None:
        text = "".join(inline)
        inline.clear()
        if text.strip():
            builder.paragraph(re.sub(r"\s+", " ", text))

    for child in node.children:
        if isinstance(child, NavigableString):
            if not isinstance(child, Comment):
                inline.append(str(child))
        elif not isinstance(child, Tag) or child.decomposed:
            continue
        elif child.name in _HEADINGS:
            flush()
            builder.heading(_HEADINGS[child.name], child.get_text(" "))
        elif child.name == "tr":
            flush()
            cells = [re.sub(r"\s+", " ", c.get_text(" ")).strip() for c in child.find_all(["td", "th"])]
            builder.paragraph(" | ".join(c for c in cells if c))
        elif child.name == "br":
            inline.append("\n")
        elif child.name in _BLOCKS or child.find(list(_BLOCKS | set(_HEADINGS))):
            flush()
            if child.name == "li":
                inline.append("- ")
            _walk(child, builder)
            flush()
        else:
            inline.append(child.get_text())
    flush()
