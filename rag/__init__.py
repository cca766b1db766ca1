"""rag — an offline retrieval-augmented knowledge assistant.

    import rag
    report = rag.ingest(["corpora/homeowner"], "indexes/homeowner")
    kb = rag.open("indexes/homeowner")
    for hit in kb.search("How much do I need for a down payment?"):
        print(hit.score, hit.source, hit.section, hit.page)
"""
from .errors import RagError
from .ingest import ingest, refresh
from .knowledge_base import KnowledgeBase, open_index as open
from .settings import Settings
from .types import Chunk, Document, Hit, IngestReport, Section

__all__ = ["Chunk", "Document", "Hit", "IngestReport", "KnowledgeBase", "RagError", "Section", "Settings",
           "ingest", "open", "refresh"]
