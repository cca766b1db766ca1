"""The facade chat apps and scripts use: open an index, search it (and, later, ask it)."""
from __future__ import annotations

import threading
from pathlib import Path

from .embedding import Embedder
from .index import IndexStore, Snapshot
from .retrieval import Retriever
from .settings import Settings
from .types import Hit


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

    def info(self) -> dict:
        snapshot = self.snapshot
        return {"index": str(self.store.root), "version": snapshot.version, **snapshot.manifest.__dict__}


def open_index(index: str | Path | None = None, settings: Settings | None = None) -> KnowledgeBase:
    return KnowledgeBase(index, settings)
