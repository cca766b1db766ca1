from pathlib import Path

import pytest

from rag.errors import LoaderError
from rag.loaders import load_document
from rag.loaders.html import expand_template

from .conftest import FIXTURES, REPO

CORPUS = FIXTURES / "corpus"


def test_markdown_sections_titles_and_inline_markup():
    doc = load_document(CORPUS / "escrow.md")
    assert doc.title == "Escrow accounts in plain words"  # front matter wins over the first heading
    assert [s.headings for s in doc.sections] == [
        ("Escrow basics",), ("Escrow basics", "The annual review"), ("Escrow basics", "The cushion")]
    first = doc.sections[0].text
    assert "property taxes and homeowners insurance from it" in first  # bold and link markup gone
    assert "https://" not in first and "**" not in first
    assert doc.sections[1].text.endswith("- A surplus of $50 or more is refunded to you.")


def test_text_headings_and_wrapped_paragraphs():
    doc = load_document(CORPUS / "inspection.txt")
    assert doc.title == "Home Inspection Basics"
    assert doc.sections[0].headings == ("Home Inspection Basics", "What An Inspector Checks")
    assert "usually takes two to four hours" in doc.sections[0].text


def test_html_keeps_prose_drops_boilerplate_and_template_markup():
    doc = load_document(CORPUS / "rate-lock.html")
    text = doc.text
    assert doc.title == "Rate locks explained | Example Homes"
    assert "A rate lock is a lender's promise" in text
    assert "often 30, 45 or 60 days" in text  # prose inside a template string literal
    for noise in ("trackingCode", "font-family", "Contact us today", "All rights reserved", "{%", "{{", "16.17%",
                  "lock-period", "page.updated"):
        assert noise not in text
    headings = {h for s in doc.sections for h in s.headings}
    assert {"Lock period", "Float down", "Rate locks", "When to lock"} <= headings


def test_link_only_paragraphs_and_items_are_dropped(tmp_path: Path):
    page = tmp_path / "links.html"
    page.write_text("<html><body><h1>Escrow</h1><p>Escrow holds money for <a href='/t'>property taxes</a>.</p>"
                    "<p><a href='/more'>Learn more about escrow accounts</a></p>"
                    "<ul><li><a href='/a'>Read a report on escrow</a></li>"
                    "<li>Related: <a href='/b'>Closing</a></li></ul>"
                    "</body></html>", encoding="utf-8")
    text = load_document(page).text
    assert "Escrow holds money for property taxes." in text
    assert "Related: Closing" in text
    assert "Learn more" not in text and "Read a report" not in text


def test_template_literals_become_headings_and_paragraphs():
    markup, title = expand_template('{% block title %}T{% endblock %}{% set d = {"term": "Escrow", '
                                    '"definition": "Money held for taxes and insurance.", "img": "a/b.png"} %}')
    assert title == "T"
    assert "<h6>Escrow</h6>" in markup and "Money held for taxes and insurance." in markup and "b.png" not in markup


def test_pdf_pages_are_numbered():
    pdfs = sorted((REPO / "corpora" / "homeowner").rglob("*.pdf"))
    assert pdfs, "the bundled corpus ships PDFs"
    doc = load_document(pdfs[0])
    assert doc.kind == "pdf"
    pages = [s.page for s in doc.sections]
    assert pages == sorted(pages) and set(pages) == set(range(1, max(pages) + 1))  # a page may hold two sections
    assert max(pages) >= 2
    assert all("  " not in s.text for s in doc.sections)


def test_pdf_headings_come_from_larger_type():
    doc = load_document(REPO / "corpora" / "homeowner" / "closing" / "closing-day-document-checklist.pdf")
    assert doc.title == "Closing Day Document Checklist"  # the metadata title; not repeated as a heading
    assert [(s.page, s.headings) for s in doc.sections][:3] == [
        (1, ()), (1, ("In the Week Before Closing",)), (2, ("What to Bring to the Table",))]
    assert all(not s.text.startswith(s.headings[0]) for s in doc.sections if s.headings)  # the heading left the text


def write_pdf(path: Path, pages: list[list[tuple[str, float]]], title: str | None = None) -> Path:
    """A PDF whose pages hold the given (text, type size) lines, top to bottom, in Helvetica."""
    import pypdf
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = pypdf.PdfWriter()
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica")})
    for lines in pages:
        page = writer.add_blank_page(width=612, height=792)
        ops, y = [], 740
        for text, size in lines:
            escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"BT /F1 {size} Tf 72 {y} Td ({escaped}) Tj ET")
            y -= size + 6
        stream = DecodedStreamObject()
        stream.set_data("\n".join(ops).encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    if title:
        writer.add_metadata({"/Title": title})
    writer.write(path)
    return path


def test_a_pdf_form_reads_as_rows_under_headings(tmp_path: Path):
    body = 10
    path = write_pdf(tmp_path / "adjustable_rate_loan_estimate.pdf", [
        [("Loan Terms Can this amount increase?", body), ("Projected Payments", 16), ("Interest Rate 4%", body),
         ("Limits on Interest Rate Changes", body), ("First Change 2%", body), ("Subsequent Changes 2%", body),
         ("Before closing, your interest rate, points, and lender credits can", body),
         ("change unless you lock the interest rate.", body), ("PAGE 1 OF 2", body)],
        [("PAGE 2 OF 2", body), ("Costs at Closing", 16), ("Cushion: $ 59.01", body),
         ("Prepaid Interest ( $23.44 per day)", body)]])
    doc = load_document(path)
    assert doc.title == "Adjustable rate loan estimate"  # no metadata title: the file name, not the first line
    assert [(s.page, s.headings) for s in doc.sections] == [
        (1, ()), (1, ("Projected Payments",)), (2, ("Costs at Closing",))]
    assert doc.sections[1].text.split("\n") == [
        "Interest Rate 4%", "Limits on Interest Rate Changes First Change 2% Subsequent Changes 2%",
        "Before closing, your interest rate, points, and lender credits can change unless you lock the interest rate."]
    assert doc.sections[2].text == "Cushion: $59.01\nPrepaid Interest ($23.44 per day)"


def test_a_pdf_named_like_a_scan_takes_its_first_line_as_title(tmp_path: Path):
    doc = load_document(write_pdf(tmp_path / "scan0001.pdf", [[("Annual escrow statement", 10),
                                                               ("The cushion is what the lender holds back.", 10)]]))
    assert doc.title == "Annual escrow statement"


@pytest.mark.parametrize("name, content, reason", [
    ("empty.md", b"", "empty file"),
    ("blank.txt", b"  \n\n ", "empty file"),
    ("binary.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "binary data"),
    ("latin1.txt", "Caf\u00e9 closing costs".encode("latin-1"), "not valid UTF-8"),
    ("corrupt.pdf", b"%PDF-1.4\n1 0 obj garbage", "PDF"),
    ("empty.pdf", b"", "empty file"),
    ("only-tags.html", b"<html><script>var x = 1;</script></html>", "no extractable text"),
])
def test_bad_files_raise_loader_errors_with_reasons(tmp_path: Path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LoaderError, match=reason):
        load_document(path)


def test_unreadable_file(tmp_path: Path, monkeypatch):
    import os

    path = tmp_path / "secret.md"
    path.write_text("# Secret\n\nText.")
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads everything: make the read fail as it would for a user
        real = Path.read_bytes
        monkeypatch.setattr(Path, "read_bytes",
                            lambda self: (_ for _ in ()).throw(PermissionError(13, "denied")) if self == path
                            else real(self))
    with pytest.raises(LoaderError, match="permission denied"):
        load_document(path)


def test_image_only_and_encrypted_pdfs_are_explained(tmp_path: Path):
    import pypdf

    blank = pypdf.PdfWriter()
    blank.add_blank_page(width=612, height=792)
    blank.write(tmp_path / "scan.pdf")
    with pytest.raises(LoaderError, match="no extractable text"):
        load_document(tmp_path / "scan.pdf")

    locked = pypdf.PdfWriter(clone_from=sorted((REPO / "corpora" / "homeowner").rglob("*.pdf"))[0])
    locked.encrypt(user_password="secret", algorithm="RC4-128")
    locked.write(tmp_path / "locked.pdf")
    with pytest.raises(LoaderError, match="encrypted"):
        load_document(tmp_path / "locked.pdf")


# Hostile input (issue 17). Each of these hung or crashed the old loaders; a subprocess with a
# generous time limit stands guard, so a regression fails instead of hanging the suite.
N = 200_000
BOMBS = {
    "spaces.md": "# T\n\n" + " " * 40000 + "x",  # _TABLE_RULE: 61 s
    "atx-spaces.md": "# a" + " " * 40000 + "b\n\nText.",  # _ATX's lazy group
    "image.md": "# T\n\n" + "![" * N + "\n\nText.",
    "link.md": "# T\n\n" + "[a](" * N + "\n\nText.",
    "autolink.md": "# T\n\n" + "<http://" * N + "\n\nText.",
    "tag.md": "# T\n\n" + "<a " * N + "\n\nText.",
    "italic.md": "# T\n\n" + "*a " * N + "\n\nText.",
    "nested-list.md": "".join(" " * (2 * (i % 200)) + "- item\n" for i in range(N)),
    "template-comment.html": "<p>Text here.</p>" + "{#" * N,
    "template-tag.html": "<p>Text here.</p>" + "{%" * N,
    "template-var.html": "<p>Text here.</p>" + "{{" * N,
    "template-title.html": "<p>Text here.</p>" + "{% block title %}" * 20000,
    "template-key.html": "<p>Text here.</p>{% " + "a" * 100000 + " %}",
    "million-lines.txt": "Title\n\n" + "a\n" * 1_000_000,  # wrapped lines joined by repeated copying
    "combining.txt": "Title\n\n" + "a" + "\u0301\u0316" * 100000,  # NFKC reorders marks in quadratic time
    "deep.html": "<html><body>" + "<div>" * 1000 + "deep text here" + "</div>" * 1000,  # RecursionError
    "deep-li.html": "<ul><li>" * 1000 + "deep text",
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_hostile_shapes_load_in_linear_time_without_recursion(tmp_path: Path, name):
    import subprocess
    import sys

    path = tmp_path / name
    path.write_text(BOMBS[name])
    code = ("import sys; from pathlib import Path; from rag.loaders import load_document; from rag.errors import "
            "LoaderError\ntry:\n    load_document(Path(sys.argv[1]))\nexcept LoaderError as exc:\n    print(exc)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and not done.stderr, done.stderr[-2000:]


def test_doctype_is_not_text(tmp_path: Path):
    page = tmp_path / "page.html"
    page.write_text("<!doctype html><html><body><p>Escrow pays taxes.</p></body></html>")
    assert load_document(page).text == "Escrow pays taxes."


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be-bom", "utf-32"])
def test_text_with_a_byte_order_mark_is_decoded(tmp_path: Path, encoding):
    text = "# Escrow\n\nEscrow pays taxes.\n"
    data = b"\xfe\xff" + text.encode("utf-16-be") if encoding == "utf-16-be-bom" else text.encode(encoding)
    path = tmp_path / "doc.md"
    path.write_bytes(data)
    document = load_document(path)
    assert (document.title, document.text) == ("Escrow", "Escrow pays taxes.")


def test_undecodable_file_name_gives_a_printable_title(tmp_path: Path):
    import os

    path = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"bad-\xff.txt")))
    path.write_bytes(b"x y z is the text of this file, no heading.\n")
    assert load_document(path).title == "Bad \\xff"


def test_a_corrupt_pdf_writes_nothing_to_stderr(tmp_path: Path, capfd):
    seed = sorted((REPO / "corpora" / "homeowner").rglob("*.pdf"))[0].read_bytes()
    damaged = bytearray(seed)
    for position in range(200, len(damaged), 997):
        damaged[position] ^= 0xFF
    (tmp_path / "damaged.pdf").write_bytes(bytes(damaged))
    try:
        load_document(tmp_path / "damaged.pdf")
    except LoaderError:
        pass
    assert capfd.readouterr().err == ""
