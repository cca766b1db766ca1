"""The on-disk index: versioned folders of FAISS vectors, SQLite metadata, BM25 and a manifest.

    INDEX/CURRENT          name of the live version, switched atomically
    INDEX/v000007/         one immutable version
        manifest.json      model, dimension, chunker settings, per-source hashes
        vectors.faiss      IndexIDMap2(IndexFlatIP) over L2-normalised vectors, or, sharded or fp16/sq8:
        vectors/           layout.json and shard-NNNNN.faiss files, searched together (rag/index/vectors.py)
        chunks.sqlite      chunk text and where each chunk occurs
        bm25/              lexical index (bm25s: JSON and .npy, no pickle)
"""
from .manifest import FORMAT_VERSION, Manifest
from .snapshot import Snapshot
from .store import IndexStore

__all__ = ["FORMAT_VERSION", "IndexStore", "Manifest", "Snapshot"]
