"""The facade chat apps and scripts use: open an index, search it, ask it."""
from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path
from typing import Iterator, Sequence

from .answering import Answerer
from .embedding import embedder_from_settings
from .errors import ConfigError
from .evidence import EvidenceModel
from .generation import generator_from_settings
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
        self.embedder = embedder_from_settings(self.settings)
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
        evidence = EvidenceModel.load(gen.evidence_model)  # before the model loads: a wrong path fails fast
        if gen.adapter and not (Path(gen.adapter) / "adapter_config.json").is_file():
            raise ConfigError(f"generation.adapter: no PEFT adapter at {gen.adapter} (no adapter_config.json); "
                              "point it at a folder written by 'rag tune', or set it to \"\" (or use --no-adapter) "
                              "for the base model")
        generator = generator_from_settings(self.settings)
        return Answerer(self.search, self.embedder.embed, generator, evidence, k=gen.passages,
                        context_tokens=gen.context_tokens, max_new_tokens=gen.max_new_tokens, template=template,
                        reranking=gen.rerank, candidates=gen.rerank_candidates, policy=self.settings.answering)

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
