"""rag — an offline retrieval-augmented knowledge assistant.

    import rag
    report = rag.ingest(["corpora/homeowner"], "indexes/homeowner")
    kb = rag.open("indexes/homeowner")
    for hit in kb.search("How much do I need for a down payment?"):
        print(hit.score, hit.source, hit.section, hit.page)
    answer = kb.ask("When can I cancel PMI?")
    print(answer.text, [(c.n, c.source) for c in answer.citations])
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import ConfigError, RagError
from .policy import AnsweringPolicy
from .settings import Settings
from .types import Answer, Chunk, Citation, Document, Hit, IngestReport, Section

# Bound now, not lazily: `rag.ingest` names both a submodule and its function, and the first import of the
# submodule (`from rag.ingest import …` anywhere) would otherwise leave the attribute bound to the module.
# Cheap: the loaders (BeautifulSoup, pypdf) load when a file of their format is first read.
from .ingest import ingest, refresh  # noqa: E402

if TYPE_CHECKING:
    from .knowledge_base import KnowledgeBase, open_index as open

# Imported on first use: `import rag` (every CLI command) need not load the answering stack.
_LAZY = {"KnowledgeBase": ("knowledge_base", "KnowledgeBase"), "open": ("knowledge_base", "open_index")}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'rag' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = getattr(importlib.import_module(f".{module}", __name__), attribute)
    globals()[name] = value
    return value


__all__ = ["Answer", "AnsweringPolicy", "Chunk", "Citation", "ConfigError", "Document", "Hit", "IngestReport",
           "KnowledgeBase", "RagError", "Section", "Settings", "ingest", "open", "refresh"]
