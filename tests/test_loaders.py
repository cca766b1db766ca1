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
                    "<ul><li><a href='/a'>Read a report on escrow</a></li><li>Related: <a href='/b'>Closing</a></li></ul>"
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
    assert [s.page for s in doc.sections] == list(range(1, len(doc.sections) + 1))
    assert len(doc.sections) >= 2
    assert all("  " not in s.text for s in doc.sections)


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
