"""The facade chat apps and scripts use: open an index, search it, ask it."""
from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path
from typing import Iterator, Sequence

from .answering import Answerer
from .embedding import Embedder
from .evidence import EvidenceModel
from .generation import Generator
from .index import IndexStore, Snapshot
from .prompting import PromptTemplate
from .retrieval import Retriever
from .settings import Settings
from .types import Answer, Hit


class KnowledgeBase:
    """A live index. Thread-safe; picks up a newer index version on the next query."""

    def __init__(self, index: str | Path | None = None, settings: Settings | None = None):
        self.settings = settings or Settings.load()
        self.store = IndexStore(index or self.settings.index)
        emb = self.settings.embedding
        self.embedder = Embedder(emb.model, emb.batch_size, emb.threads)
        self._lock = threading.Lock()
        self._snapshot = self._open(self.store.current_dir())

    def _open(self, folder: Path) -> Snapshot:
        snapshot = Snapshot(folder)
        try:
            snapshot.manifest.check_embedding(self.embedder.fingerprint, self.store.root)
        except Exception:
            snapshot.close()
            raise
        return snapshot

    @property
    def snapshot(self) -> Snapshot:
        """The live version, reloaded when a refresh has switched CURRENT."""
        version = self.store.current_version()
        with self._lock:
            if version and version != self._snapshot.version:
                self._snapshot = self._open(self.store.root / version)
            return self._snapshot

    @property
    def manifest(self):
        return self.snapshot.manifest

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        return Retriever(self.snapshot, self.embedder, self.settings.retrieval).search(query, k)

    @cached_property
    def answerer(self) -> Answerer:
        gen = self.settings.generation
        template = PromptTemplate(**{name: value for name, value in (
            ("system", gen.system_prompt), ("passage", gen.passage_template), ("user", gen.user_template)) if value})
        generator = Generator(gen.model, self.settings.cache_dir, gen.adapter, self.settings.embedding.threads,
                              gen.max_new_tokens)
        return Answerer(self.search, self.embedder.embed, generator, EvidenceModel.load(gen.evidence_model), k=gen.passages,
                        context_tokens=gen.context_tokens, max_new_tokens=gen.max_new_tokens, template=template,
                        reranking=gen.rerank, candidates=gen.rerank_candidates)

    def ask(self, question: str, history: Sequence[dict] | None = None) -> Answer:
        """A grounded answer with citations, or a refusal when the documents don't say."""
        return self.answerer.ask(question, history)

    def stream(self, question: str, history: Sequence[dict] | None = None) -> Iterator[str | Answer]:
        """Like `ask`, but yields the answer's text as it is generated, then the `Answer`."""
        return self.answerer.stream(question, history)

    def info(self) -> dict:
        snapshot = self.snapshot
        return {"index": str(self.store.root), "version": snapshot.version, **snapshot.manifest.__dict__}


def open_index(index: str | Path | None = None, settings: Settings | None = None,
               use_adapter: bool = True) -> KnowledgeBase:
    """Open an index; `use_adapter=False` answers with the base model, without the LoRA adapter."""
    settings = settings or Settings.load()
    if not use_adapter:
        settings = settings.with_overrides(generation__adapter="")
    return KnowledgeBase(index, settings)
