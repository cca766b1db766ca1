"""Render the Markdown sources in pdf-sources/ into the homeowner corpus PDFs.

Run from anywhere:

    pip install -e ".[pdf-build]" && python corpora/make_pdfs.py

Supported Markdown: "# " title, "## " headings, "- " bullets, plain
paragraphs (one per line or block), and "---" on its own line for a page
break. Output is byte-for-byte reproducible (reportlab invariant mode).
"""
from pathlib import Path
from xml.sax.saxutils import escape

import reportlab.rl_config
reportlab.rl_config.invariant = 1  # fixed dates and IDs -> identical bytes

from reportlab.lib.pagesizes import letter
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

HERE = Path(__file__).resolve().parent
JOBS = {
    "seasonal-home-maintenance-checklist.md": "homeowner/owning/seasonal-home-maintenance-checklist.pdf",
    "closing-day-document-checklist.md": "homeowner/closing/closing-day-document-checklist.pdf",
}

BODY = ParagraphStyle("body", fontName="Helvetica", fontSize=11, leading=15, spaceAfter=8)
BULLET = ParagraphStyle("bullet", parent=BODY, leftIndent=18, bulletIndent=6, spaceAfter=4)
H1 = ParagraphStyle("h1", fontName="Helvetica-Bold", fontSize=20, leading=24, spaceAfter=14)
H2 = ParagraphStyle("h2", fontName="Helvetica-Bold", fontSize=14, leading=18, spaceBefore=10, spaceAfter=8)


def to_flowables(text):
    """Turn simple Markdown into a list of reportlab flowables."""
    story = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line == "---":
            story.append(PageBreak())
        elif line.startswith("# "):
            story.append(Paragraph(escape(line[2:]), H1))
        elif line.startswith("## "):
            story.append(Paragraph(escape(line[3:]), H2))
        elif line.startswith("- "):
            story.append(Paragraph(escape(line[2:]), BULLET, bulletText="-"))
        else:
            story.append(Paragraph(escape(line), BODY))
    story.append(Spacer(1, 0))
    return story


def build(src, dst):
    title = src.read_text().splitlines()[0].lstrip("# ").strip()
    doc = SimpleDocTemplate(
        str(dst), pagesize=letter, title=title, author="Homeowner corpus",
        leftMargin=inch, rightMargin=inch, topMargin=inch, bottomMargin=inch,
    )
    doc.build(to_flowables(src.read_text()))


if __name__ == "__main__":
    for name, out in JOBS.items():
        dst = HERE / out
        dst.parent.mkdir(parents=True, exist_ok=True)
        build(HERE / "pdf-sources" / name, dst)
        print("wrote", dst.relative_to(HERE))
