"""A read-only view of one index version: manifest, vectors, metadata, BM25."""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from . import vectors
from .lexical import LexicalIndex
from .manifest import Manifest
from .metadata import Metadata


class Snapshot:
    def __init__(self, folder: Path, blas_min_queries: int = vectors.DEFAULTS.blas_min_queries):
        self.folder = folder
        self.manifest = Manifest.read(folder)
        self.vectors = vectors.read(folder, blas_min_queries)
        self.metadata = Metadata(folder)

    @property
    def version(self) -> str:
        return self.folder.name

    @cached_property
    def lexical(self) -> LexicalIndex | None:
        return LexicalIndex(self.folder) if self.manifest.lexical else None

    def storage_recall(self, embedder, questions: list[str], k: int = 10) -> float:
        """Recall@k of this version's vector storage (fp16, sq8) against exact fp32 search for `questions`:
        every chunk is embedded again for the reference, so this costs what an ingest's embedding costs."""
        rows = self.metadata.chunk_rows()
        if not rows or not questions:
            return 1.0
        originals = embedder.embed([row.embed_text for row in rows])
        queries = np.stack([embedder.embed_query(q) for q in questions])
        return vectors.recall_against_exact(self.vectors, np.array([r.id for r in rows], np.int64), originals,
                                            queries, k)

    def close(self) -> None:
        self.metadata.close()
