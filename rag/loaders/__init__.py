"""Load a file into a `Document`: one loader per format, chosen by extension."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import LoaderError
from ..types import Document
from . import html, markdown, pdf, text

LOADERS: dict[str, Callable[[Path], Document]] = {
    ".md": markdown.load,
    ".markdown": markdown.load,
    ".txt": text.load,
    ".text": text.load,
    ".html": html.load,
    ".htm": html.load,
    ".pdf": pdf.load,
}


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in LOADERS


def load_document(path: Path) -> Document:
    """Load and clean one file; a `LoaderError` says why it could not be used."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise LoaderError(f"unsupported file type '{path.suffix}'")
    try:
        document = loader(path)
    except LoaderError:
        raise
    except PermissionError:
        raise LoaderError("permission denied; make the file readable") from None
    except OSError as exc:
        raise LoaderError(f"cannot read file: {exc.strerror or exc}") from None
    if not any(section.text.strip() for section in document.sections):
        raise LoaderError("no extractable text")
    return document


__all__ = ["LOADERS", "is_supported", "load_document"]
