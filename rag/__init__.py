"""rag — an offline retrieval-augmented knowledge assistant.

    import rag
    report = rag.ingest(["corpora/homeowner"], "indexes/homeowner")
    kb = rag.open("indexes/homeowner")
    for hit in kb.search("How much do I need for a down payment?"):
        print(hit.score, hit.source, hit.section, hit.page)
    answer = kb.ask("When can I cancel PMI?")
    print(answer.text, [(c.n, c.source) for c in answer.citations])
"""
from .errors import ConfigError, RagError
from .ingest import ingest, refresh
from .knowledge_base import KnowledgeBase, open_index as open
from .policy import AnsweringPolicy
from .settings import Settings
from .types import Answer, Chunk, Citation, Document, Hit, IngestReport, Section

__all__ = ["Answer", "AnsweringPolicy", "Chunk", "Citation", "ConfigError", "Document", "Hit", "IngestReport",
           "KnowledgeBase", "RagError", "Section", "Settings", "ingest", "open", "refresh"]
