"""Where an ingest's heavy work runs: the per-file work and the embedding, behind one seam.

An engine maps the same module-level functions over plain data: `rag.isolation.prepare_isolated` over
`FileJob`s (results carry the job's id: completion order is arbitrary) and an embedder over passages.
`LocalEngine` is a plain `map` in this process; `RayEngine` sends the same work to a pool of Ray actors,
each holding one embedding model. Everything that decides (dedup, reuse of unchanged files and vectors)
and everything that writes (FAISS, SQLite, BM25, manifest, the version switch, the writer lock) stays
with the caller, on this machine. Ray is imported only when the "ray" engine is asked for.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from ..errors import ConfigError
from ..isolation import FileJob
from ..settings import ENGINES, Settings


class Engine(Protocol):
    name: str
    embedder: object  # the `Embedder` the index records (name, path, fingerprint, tokenizer); its weights load
    # only where this engine embeds

    def prepare_files(self, jobs: list[FileJob]) -> dict[int, dict]:
        """`prepare_file`'s result for every job, by job id."""

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """One L2-normalised float32 row per text, in the order given."""

    def dimension(self) -> int:
        """The embedding's width (an index with no passage still records it)."""

    def close(self) -> None:
        """Release the workers this engine started (never anything it did not start)."""


def open_engine(name: str, settings: Settings, embedder, address: str | None = None) -> Engine:
    """The engine `name` ("local" or "ray"); `address` overrides `ingest.ray_address`."""
    if name == "local":
        from .local import LocalEngine

        return LocalEngine(embedder, settings)
    if name == "ray":
        from .ray_engine import RayEngine

        return RayEngine(embedder, settings, address or settings.ingest.ray_address)
    raise ConfigError(f"ingest.engine must be one of {', '.join(ENGINES)}, got {name!r}")
