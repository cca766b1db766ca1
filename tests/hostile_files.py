"""A folder of malformed files, every kind that once crashed, hung or exhausted an ingest (issue 17).

`write_hostile_corpus(folder, big_line_file)` writes 200+ files and returns their count. Bodies repeat
on purpose: what is hostile is the shape, and identical passages are embedded once, so the suite
stays fast. The 50,000,000-byte single-line file is made once per session and linked in.
"""
from __future__ import annotations

import io
import os
import random
import zlib
from pathlib import Path

from .conftest import REPO

BODY = "Escrow pays property taxes and insurance for the homeowner every year."
SEED_PDF = sorted((REPO / "corpora" / "homeowner").rglob("*.pdf"))[0]
N = 50_000  # repetitions in the regex and parser bombs (each hung the old code for minutes)


def big_single_line(path: Path, size: int = 50_000_000) -> Path:
    phrase = "escrow account balance pays taxes "
    path.write_text((phrase * (size // len(phrase) + 1))[:size])
    return path


def _write(folder: Path, name: str | bytes, data: str | bytes) -> None:
    target = os.path.join(os.fsencode(folder), name if isinstance(name, bytes) else os.fsencode(name))
    with open(target, "wb") as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)


def _names(folder: Path) -> None:
    """Names a filesystem allows that are not text: undecodable bytes, controls, odd characters."""
    for name in (b"bad-\xff.md", b"latin1-caf\xe9.txt", b"surrogate-\xed\xa0\x80.html", b"mixed-\xc3\x28.md",
                 "new\nline.md", "tab\tname.txt", "\U0001f3e0 home.md", "-rf.md", "back\\slash.txt",
                 "x" * 200 + ".md", "quote\"'.md", "percent%s%n.txt", "RTL-\u202eevil.txt"):
        _write(folder, name, f"# Name test\n\n{BODY}\n")


def _nesting(folder: Path) -> None:
    _write(folder, "deep-div-1000.html", "<html><body>" + "<div>" * 1000 + f"<p>{BODY}</p>" + "</div>" * 1000)
    _write(folder, "deep-div-20000.html", "<div>" * 20000 + BODY)
    _write(folder, "deep-li-1000.html", "<ul><li>" * 1000 + BODY)
    _write(folder, "deep-b-5000.html", "<p>" + "<b>" * 5000 + BODY)
    _write(folder, "deep-span-then-div.html", "<span>" * 5000 + f"<div>{BODY}</div>")
    _write(folder, "deep-table.html", "<table><tr><td>" * 500 + BODY)
    _write(folder, "deep-headings.html", "".join(f"<section><h{1 + i % 6}>Part {i % 7}</h{1 + i % 6}>"
                                                  for i in range(2000)) + f"<p>{BODY}</p>")
    _write(folder, "deep-blockquote.md", ">" * 5000 + " " + BODY)
    _write(folder, "deep-list-9mb.md", "".join(" " * (2 * (i % 300)) + "- item\n" for i in range(30000)) * 9)
    _write(folder, "deep-list-indent.md", "".join(" " * (2 * i) + "- item\n" for i in range(3000)))
    _write(folder, "nested-brackets.md", "# T\n\n" + "[" * N + BODY + "]" * N)


def _regex_bombs(folder: Path) -> None:
    """Inputs that make a backtracking pattern super-linear (each once took minutes or hours)."""
    bombs = {
        "spaces-40k.md": "# T\n\n" + " " * 40000 + "x",
        "atx-spaces.md": "# a" + " " * 40000 + "b\n\n" + BODY,
        "table-rule-spaces.md": "# T\n\n|---" + " " * 40000 + "x\n\n" + BODY,
        "setext-spaces.md": "Title\n" + "=" * 40000 + " " * 40000 + "x\n\n" + BODY,
        "list-spaces.md": "# T\n\n-" + " " * 40000 + "x\n\n" + BODY,
        "image-bomb.md": "# T\n\n" + "![" * N + "\n\n" + BODY,
        "link-bomb.md": "# T\n\n" + "[a](" * N + "\n\n" + BODY,
        "autolink-bomb.md": "# T\n\n" + "<http://" * N + "\n\n" + BODY,
        "tag-bomb.md": "# T\n\n" + "<a " * N + "\n\n" + BODY,
        "bold-bomb.md": "# T\n\n" + "**a " * N + "\n\n" + BODY,
        "italic-bomb.md": "# T\n\n" + "*a " * N + "\n\n" + BODY,
        "underscore-bomb.md": "# T\n\n" + "__a " * N + "\n\n" + BODY,
        "backtick-bomb.md": "# T\n\n" + "`a " * N + "\n\n" + BODY,
        "escape-bomb.md": "# T\n\n" + "\\" * N + "\n\n" + BODY,
        "template-comment-bomb.html": f"<p>{BODY}</p>" + "{#" * N,
        "template-tag-bomb.html": f"<p>{BODY}</p>" + "{%" * N,
        "template-var-bomb.html": f"<p>{BODY}</p>" + "{{" * N,
        "template-title-bomb.html": f"<p>{BODY}</p>" + "{% block title %}" * 20000,
        "template-key-bomb.html": f"<p>{BODY}</p>{{% " + "a" * N + " %}",
        "template-quote-bomb.html": f"<p>{BODY}</p>{{% " + '"a\\"' * 50000 + " %}",
        "template-keyed-bomb.html": f"<p>{BODY}</p>{{% " + "k: '\\'" * 50000 + " %}",
        "tag-lt-bomb.html": f"<p>{BODY}</p>" + "<" * N,
        "amp-bomb.html": f"<p>{BODY}</p>" + "&#" * N,
        "sentence-bomb.txt": "Title\n\n" + "." + ")" * N + " x " + BODY,
        "leaders.txt": "Title\n\n" + "." * N + " " + BODY,
        "combining-zalgo.txt": "Zalgo\n\n" + "a" + "\u0301\u0316" * 100000 + " " + BODY,
        "million-lines.txt": "Title\n\n" + "a\n" * 1_000_000,
        "blank-lines.txt": "Title\n\n" + " \n" * N + BODY,
    }
    for name, text in bombs.items():
        _write(folder, name, text)


def _encodings(folder: Path) -> None:
    text = f"# Encoded\n\n{BODY}\n"
    for name, data in {
        "utf16-le-bom.md": text.encode("utf-16"), "utf16-be-bom.md": b"\xfe\xff" + text.encode("utf-16-be"),
        "utf32-bom.txt": text.encode("utf-32"), "utf8-bom.txt": b"\xef\xbb\xbf" + text.encode(),
        "utf16-no-bom.md": text.encode("utf-16-le"), "utf16-lone-surrogate.txt": b"\xff\xfe" + b"\x00\xd8a\x00",
        "latin1.txt": "Pr\u00eat \u00e0 taux fixe".encode("latin-1"), "cesu-surrogate.md": b"# A\n\n\xed\xa0\x80 x",
        "html-declared-bogus.html": b"<meta charset='no-such-codec'><p>x</p>",
        "html-declared-latin1.html": b"<meta charset='latin-1'><p>" + BODY.encode() + b" caf\xe9</p>",
        "nul-at-start.md": b"\x00" + text.encode(),
        "nul-late.txt": b"Title\n\n" + b"x " * 5000 + b"\x00" + BODY.encode(),
        "controls.txt": ("Title\n\n" + "".join(chr(c) for c in range(1, 32) if c != 10) + " " + BODY).encode(),
        "c1-controls.txt": ("Title\n\n" + "\x85\x9f\u2028\u2029" * 1000 + BODY).encode(),
        "bidi-marks.md": ("# Bidi\n\n" + "\u202e\u200f\u2066" * 1000 + BODY).encode(),
        "private-use.txt": ("Title\n\n" + "\ue000" * 5000 + BODY).encode(),
        "bom-only.md": b"\xef\xbb\xbf", "utf16-bom-only.txt": b"\xff\xfe",
    }.items():
        _write(folder, name, data)


def _empty_and_binary(folder: Path) -> None:
    rng = random.Random(17)
    for suffix in (".md", ".txt", ".html", ".pdf"):
        _write(folder, f"empty{suffix}", b"")
        _write(folder, f"whitespace{suffix}", b"  \n\t\n  ")
        _write(folder, f"random{suffix}", bytes(rng.randrange(256) for _ in range(4096)))
        _write(folder, f"png{suffix}", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))
        _write(folder, f"zip{suffix}", b"PK\x03\x04" + bytes(rng.randrange(256) for _ in range(512)))
        _write(folder, f"elf{suffix}", b"\x7fELF\x02\x01\x01" + bytes(256))
    _write(folder, "zero-token.md", "# A\n\nx y z\n")
    _write(folder, "zero-token.txt", "a\n\nb c d e\n")
    _write(folder, "only-tags.html", "<html><script>var x = 1;</script><style>p{}</style></html>")
    _write(folder, "doctype.html", f"<!doctype html><html><body><p>{BODY}</p></body></html>")
    _write(folder, "only-doctype.html", "<!DOCTYPE html>")
    _write(folder, "processing-instruction.html", f"<?xml version='1.0'?><![CDATA[{BODY}]]><p>{BODY}</p>")
    _write(folder, "huge-heading.md", "# " + "word " * 100_000 + "\n\n" + BODY)
    _write(folder, "seven-hashes.md", "####### not a heading\n\n" + BODY)
    _write(folder, "many-headings.md", "".join(f"## Heading {i}\n\n{BODY}\n\n" for i in range(20000)))
    _write(folder, "front-matter-open.md", "---\ntitle: " + "t" * 10000 + "\n" + "k: v\n" * 500 + BODY)
    _write(folder, "fence-open.md", "```\n" + "code line\n" * 10000)
    _write(folder, "huge-word.txt", "Title\n\n" + "x" * 2_000_000)
    _write(folder, "huge-title.html", "<title>" + "T " * 100_000 + f"</title><p>{BODY}</p>")


def _pdfs(folder: Path) -> None:
    import pypdf

    seed = SEED_PDF.read_bytes()
    rng = random.Random(3)
    for cut in (0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.97, 0.999):
        _write(folder, f"truncated-{int(cut * 1000)}.pdf", seed[:int(len(seed) * cut)])
    for number in range(10):
        damaged = bytearray(seed)
        for _ in range(5 + 10 * number):
            damaged[rng.randrange(len(damaged))] ^= 0xFF
        _write(folder, f"bitflip-{number}.pdf", bytes(damaged))
    _write(folder, "header-only.pdf", b"%PDF-1.7\n")
    _write(folder, "corrupt.pdf", b"%PDF-1.4\n1 0 obj garbage\nxref\n0 9999999\ntrailer<</Root 1 0 R/Size -5>>")
    _write(folder, "xref-loop.pdf", b"%PDF-1.4\ntrailer<</Prev 9/Root 1 0 R>>\nstartxref\n9\n%%EOF")
    for algorithm in ("RC4-40", "RC4-128"):  # AES needs the optional cryptography package
        locked = pypdf.PdfWriter(clone_from=SEED_PDF)
        locked.encrypt(user_password="secret", algorithm=algorithm)
        buffer = io.BytesIO()
        locked.write(buffer)
        _write(folder, f"encrypted-{algorithm}.pdf", buffer.getvalue())
    blank = pypdf.PdfWriter()
    for _ in range(50):
        blank.add_blank_page(width=612, height=792)
    buffer = io.BytesIO()
    blank.write(buffer)
    _write(folder, "image-only.pdf", buffer.getvalue())
    _write(folder, "inflate-bomb.pdf", _inflate_bomb())


def _inflate_bomb() -> bytes:
    """A page whose content stream inflates from ~1 MB to 1 GB."""
    packer = zlib.compressobj(9)
    stream = b"".join(packer.compress(b"0 0 m " * (1 << 20)) for _ in range(170)) + packer.flush()
    objects = [b"<</Type/Catalog/Pages 2 0 R>>", b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
               b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R>>",
               b"<</Length %d/Filter/FlateDecode>>stream\n" % len(stream) + stream + b"\nendstream"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _filesystem(folder: Path, outside: Path) -> None:
    os.symlink(folder / "loop-a.md", folder / "loop-b.md")
    os.symlink(folder / "loop-b.md", folder / "loop-a.md")
    os.symlink(folder / "no-such-target.md", folder / "dangling.md")
    os.symlink(folder / "self-link.md", folder / "self-link.md")
    outside.mkdir(exist_ok=True)
    (outside / "secret.md").write_text("# Secret\n\nPrivate notes.\n")
    os.symlink(outside / "secret.md", folder / "outside-link.md")
    os.symlink(folder, folder / "folder-loop")
    os.mkfifo(folder / "fifo.md")
    (folder / "folder.md").mkdir()
    (folder / ".hidden.md").write_text("# Hidden\n\nNot indexed.\n")
    deep = os.fsencode(folder)
    cursor = os.open(deep, os.O_RDONLY)
    for _ in range(1100):  # deeper than Python's recursion limit
        os.mkdir("d", dir_fd=cursor)
        inner = os.open("d", os.O_RDONLY, dir_fd=cursor)
        os.close(cursor)
        cursor = inner
    descriptor = os.open("bottom.md", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=cursor)
    os.write(descriptor, f"# Bottom\n\n{BODY}\n".encode())
    os.close(descriptor)
    os.close(cursor)


def _fuzzed(folder: Path) -> None:
    """Markdown, HTML and PDF bytes drawn by hypothesis from markup fragments and damaged PDFs."""
    from hypothesis import HealthCheck, Phase, given, settings, strategies as st

    drawn: list[tuple[str, bytes]] = []
    fragments = {
        ".md": ["# ", "## ", "\n", "\n\n", "- ", "1. ", "|", "---", "**", "*", "_", "`", "```", "![", "](", ")",
                "[", "]", "<", ">", "\\", " ", "    ", "Escrow pays taxes. ", "=", "\t", "\u00a0", "é"],
        ".html": ["<p>", "</p>", "<h2>", "</h2>", "<div>", "</div>", "<li>", "<ul>", "<table><tr><td>", "<br>",
                  "<!--", "-->", "<!doctype html>", "<script>", "</script>", "{% set x = {\"term\": \"", "\"} %}",
                  "{{ ", " }}", "{# ", " #}", "&amp;", "&#", "\"", "'", "Escrow pays taxes. ", "<a href='x'>",
                  "</a>", "<", ">"],
    }
    seed = SEED_PDF.read_bytes()
    budget = settings(max_examples=30, database=None, derandomize=True, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))

    def markup_drawer(suffix: str, parts: list[str]):
        @budget
        @given(st.lists(st.sampled_from(parts), max_size=200))
        def draw_markup(pieces):
            drawn.append((suffix, "".join(pieces).encode()))

        return draw_markup

    for suffix, parts in fragments.items():
        markup_drawer(suffix, parts)()

    @budget
    @given(cut=st.integers(0, len(seed)), flips=st.lists(st.integers(0, len(seed) - 1), max_size=30))
    def draw_pdf(cut, flips):
        data = bytearray(seed[:cut] if cut else seed)
        for position in flips:
            if position < len(data):
                data[position] ^= 0xFF
        drawn.append((".pdf", bytes(data)))

    draw_pdf()
    for number, (suffix, data) in enumerate(drawn):
        _write(folder, f"fuzz-{number:03d}{suffix}", data)


def write_hostile_corpus(folder: Path, big_line_file: Path, outside: Path) -> int:
    """Write the hostile files into `folder` (links to `big_line_file`); `outside` takes a file that
    a link points to from inside. Returns the number of entries written."""
    folder.mkdir(parents=True, exist_ok=True)
    _names(folder)
    _nesting(folder)
    _regex_bombs(folder)
    _encodings(folder)
    _empty_and_binary(folder)
    _pdfs(folder)
    _fuzzed(folder)
    os.link(big_line_file, folder / "single-line-50mb.txt")
    _filesystem(folder, outside)
    return sum(1 for _ in os.scandir(folder))


def remove_tree(folder: Path) -> None:
    """Delete a tree deeper than the recursion limit (shutil.rmtree recurses before Python 3.12)."""
    pending = [os.fsencode(folder)]
    while pending:
        current = pending[-1]
        with os.scandir(current) as entries:
            subfolders = [e.path for e in entries if e.is_dir(follow_symlinks=False)]
        if subfolders:
            pending += subfolders
            continue
        with os.scandir(current) as entries:
            for entry in entries:
                os.unlink(entry.path)
        os.rmdir(current)
        pending.pop()
