"""Load a file into a `Document`: one loader per format, chosen by extension.

A loader module is imported when a file of its format is first loaded: the HTML loader's
BeautifulSoup and the PDF loader's pypdf cost a second of every cold start that only
answers questions (answering imports the ingest pipeline's modules, never a loader).
"""
from __future__ import annotations

import importlib
from pathlib import Path

from ..errors import LoaderError
from ..types import Document

LOADERS: dict[str, str] = {  # extension → loader module (its `load(path) -> Document`)
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in LOADERS


def load_document(path: Path) -> Document:
    """Load and clean one file; a `LoaderError` says why it could not be used."""
    module = LOADERS.get(path.suffix.lower())
    if module is None:
        raise LoaderError(f"unsupported file type '{path.suffix}'")
    loader = importlib.import_module(f".{module}", __name__).load
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
