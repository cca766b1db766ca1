"""The local engine: plain `map` over the per-file function and one embedder in this process."""
from __future__ import annotations

import numpy as np

from ..isolation import FileJob, prepare_isolated, shared_worker
from ..settings import Settings


class LocalEngine:
    name = "local"

    def __init__(self, embedder, settings: Settings):
        self.embedder = embedder
        shared_worker(str(embedder.path), settings.ingest.file_memory_mb)  # loads its libraries while we plan

    def prepare_files(self, jobs: list[FileJob]) -> dict[int, dict]:
        return dict(map(prepare_isolated, jobs))

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return self.embedder.embed(texts, progress=progress)

    def dimension(self) -> int:
        return self.embedder.dimension

    def close(self) -> None:
        pass  # the file worker is shared by this process's later ingests (rag.isolation.stop_workers ends it)
