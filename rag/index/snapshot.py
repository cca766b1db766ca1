"""A read-only view of one index version: manifest, vectors, metadata, BM25."""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

from . import vectors
from .lexical import LexicalIndex
from .manifest import Manifest
from .metadata import Metadata


class Snapshot:
    def __init__(self, folder: Path):
        self.folder = folder
        self.manifest = Manifest.read(folder)
        self.vectors = vectors.read(folder)
        self.metadata = Metadata(folder)

    @property
    def version(self) -> str:
        return self.folder.name

    @cached_property
    def lexical(self) -> LexicalIndex | None:
        return LexicalIndex(self.folder) if self.manifest.lexical else None

    def close(self) -> None:
        self.metadata.close()
