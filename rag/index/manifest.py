"""manifest.json: what an index version holds and how it was built."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import IndexMismatchError

FORMAT_VERSION = 1
FILE = "manifest.json"


@dataclass
class Manifest:
    embedding: dict  # model, path, fingerprint, dimension, normalized, metric, max_tokens
    chunking: dict  # max_tokens, overlap_tokens, chunker_version
    lexical: dict | None
    sources: dict[str, dict] = field(default_factory=dict)  # stored path -> sha256, doc_id, title, kind, chunks
    roots: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    # stored path -> sha256, reason: files that could not be indexed; unchanged, they are not read again
    failed: dict[str, dict] = field(default_factory=dict)
    created: str = ""
    version: str = ""
    format_version: int = FORMAT_VERSION

    def write(self, folder: Path) -> None:
        (folder / FILE).write_text(json.dumps(asdict(self), indent=1, sort_keys=True) + "\n")

    @classmethod
    def read(cls, folder: Path) -> "Manifest":
        data = json.loads((folder / FILE).read_text())
        if data.get("format_version") != FORMAT_VERSION:
            raise IndexMismatchError(
                f"index {folder.parent} has format version {data.get('format_version')}, this rag reads "
                f"version {FORMAT_VERSION}; rebuild it with 'rag ingest'"
            )
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})

    def check_embedding(self, fingerprint: str, index_dir: Path) -> None:
        if self.embedding.get("fingerprint") != fingerprint:
            raise IndexMismatchError(
                f"index {index_dir} was built with embedding model '{self.embedding.get('model')}' "
                f"(fingerprint {str(self.embedding.get('fingerprint'))[:12]}); the configured model differs. "
                "Set embedding.model to that model, or rebuild the index with 'rag ingest'"
            )
