"""PDF via pypdf, page by page; every section keeps its 1-based page number."""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

from ..cleaning import drop_running_lines, join_wrapped_lines, normalize
from ..errors import LoaderError
from ..types import Document, Section
from .common import title_from_path


def load(path: Path) -> Document:
    if path.stat().st_size == 0:
        raise LoaderError("empty file")
    pages, metadata_title = _read(path)
    sections = []
    for number, page in enumerate(drop_running_lines([normalize(raw) for raw in pages]), start=1):
        text = join_wrapped_lines(page)
        if text:
            sections.append(Section(text=text, headings=(), page=number))
    if not sections:
        raise LoaderError("no extractable text (an image-only or scanned PDF needs OCR first)")
    title = str(metadata_title).strip() if metadata_title else ""
    if not title or title.lower() in {"untitled", "microsoft word"}:
        title = _first_line(sections[0].text) or title_from_path(path)
    return Document(str(path), normalize(title), "pdf", sections)


def _read(path: Path) -> tuple[list[str], object]:
    """Each page's raw text and the metadata title. pypdf logs and warns about every malformed
    object it recovers from (a hundred lines for one bad file); the reason a file cannot be used
    is reported by the ingest, so the rest is kept off the terminal."""
    import pypdf

    logging.getLogger("pypdf").setLevel(logging.CRITICAL + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            reader = pypdf.PdfReader(str(path))
            if reader.is_encrypted and not _try_empty_password(reader):
                raise LoaderError("encrypted PDF; save an unencrypted copy to index it")
            pages = [page.extract_text() or "" for page in reader.pages]
            metadata_title = (reader.metadata or {}).get("/Title") if reader.metadata else None
        except (LoaderError, MemoryError):
            raise
        except Exception as exc:  # pypdf raises many types on malformed input; any of them means "corrupt"
            raise LoaderError(f"corrupt or unreadable PDF ({type(exc).__name__}: {str(exc)[:80]})") from None
    return pages, metadata_title


def _try_empty_password(reader) -> bool:
    try:
        return bool(reader.decrypt(""))
    except Exception:  # pypdf raises several types for unsupported crypto
        return False


def _first_line(text: str) -> str:
    line = text.split("\n", 1)[0].strip()
    return line if 0 < len(line.split(None, 14)) <= 14 else ""
