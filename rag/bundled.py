"""Where the bundled homeowner index, adapter and documents live, in a checkout and in an installed wheel.

`rag/_bundled/` holds symbolic links to the top-level `indexes/`, `adapters/` and `corpora/` folders; building
a wheel copies what they point at, so a non-editable install carries the same files at the same relative
places (the index finds its documents at ``../../corpora/homeowner``). Paths are resolved, so a checkout shows
``indexes/homeowner``, not the link.
"""
from __future__ import annotations

from pathlib import Path

BUNDLED = Path(__file__).resolve().parent / "_bundled"


def bundled(relative: str) -> Path:
    """The bundled file or folder `relative` (e.g. ``"indexes/homeowner"``), links followed."""
    return (BUNDLED / relative).resolve()


DEFAULT_INDEX = bundled("indexes/homeowner")
BUNDLED_ADAPTER = bundled("adapters/homeowner")
