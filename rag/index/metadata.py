"""chunks.sqlite: chunk text, the documents, and every place a chunk occurs.

An exact duplicate passage is stored once (one row in `chunks`, one vector) and
keeps every source it came from in `occurrences`.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

FILE = "chunks.sqlite"

SCHEMA = """
CREATE TABLE documents (doc_id TEXT PRIMARY KEY, source TEXT NOT NULL, title TEXT, kind TEXT, sha256 TEXT);
CREATE TABLE chunks (id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, text TEXT NOT NULL, embed_text TEXT NOT NULL);
CREATE TABLE occurrences (
    chunk_id INTEGER NOT NULL REFERENCES chunks(id), doc_id TEXT NOT NULL REFERENCES documents(doc_id),
    ordinal INTEGER NOT NULL, section TEXT, page INTEGER, start INTEGER, "end" INTEGER,
    PRIMARY KEY (doc_id, ordinal));
CREATE INDEX occurrences_by_chunk ON occurrences(chunk_id);
"""


@dataclass
class Occurrence:
    chunk_id: int
    doc_id: str
    ordinal: int
    section: str
    page: int | None
    start: int
    end: int


@dataclass
class ChunkRow:
    id: int
    key: str
    text: str
    embed_text: str


def write(folder: Path, documents: Iterable[tuple], chunks: Iterable[ChunkRow],
          occurrences: Iterable[Occurrence]) -> None:
    connection = sqlite3.connect(folder / FILE)
    try:
        connection.executescript(SCHEMA)
        connection.executemany("INSERT INTO documents VALUES (?,?,?,?,?)", documents)
        connection.executemany("INSERT INTO chunks VALUES (?,?,?,?)",
                               ((c.id, c.key, c.text, c.embed_text) for c in chunks))
        connection.executemany("INSERT INTO occurrences VALUES (?,?,?,?,?,?,?)", (
            (o.chunk_id, o.doc_id, o.ordinal, o.section, o.page, o.start, o.end) for o in occurrences))
        connection.commit()
    finally:
        connection.close()


class Metadata:
    """Read-only view of one version's chunks.sqlite, safe to share between threads."""

    def __init__(self, folder: Path):
        uri = f"file:{(folder / FILE).as_posix()}?mode=ro&immutable=1"
        self.connection = sqlite3.connect(uri, uri=True, check_same_thread=False)

    def close(self) -> None:
        self.connection.close()

    def chunk_rows(self) -> list[ChunkRow]:
        return [ChunkRow(*row) for row in self.connection.execute("SELECT id, key, text, embed_text FROM chunks")]

    def occurrences_of_document(self, doc_id: str) -> list[Occurrence]:
        rows = self.connection.execute(
            'SELECT chunk_id, doc_id, ordinal, section, page, start, "end" FROM occurrences '
            'WHERE doc_id=? ORDER BY ordinal',
            (doc_id,))
        return [Occurrence(*row) for row in rows]

    def hit_rows(self, chunk_ids: list[int]) -> dict[int, dict]:
        """Text and every occurrence (with its document) of each chunk id."""
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        rows = self.connection.execute(
            f'SELECT c.id, c.text, o.doc_id, o.section, o.page, o.start, o."end", d.source, d.title '
            f"FROM chunks c JOIN occurrences o ON o.chunk_id = c.id JOIN documents d ON d.doc_id = o.doc_id "
            f"WHERE c.id IN ({marks}) ORDER BY c.id, d.source, o.ordinal", chunk_ids)
        found: dict[int, dict] = {}
        for cid, text, doc_id, section, page, start, end, source, title in rows:
            entry = found.setdefault(cid, {"text": text, "occurrences": []})
            entry["occurrences"].append({"doc_id": doc_id, "section": section or "", "page": page,
                                         "start": start, "end": end, "source": source, "title": title or ""})
        return found

    def count(self, table: str) -> int:
        assert table in {"documents", "chunks", "occurrences"}
        return self.connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
