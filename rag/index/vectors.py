"""Dense vectors: exact inner-product search in FAISS, keyed by chunk id."""
from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

FILE = "vectors.faiss"


def build(vectors: np.ndarray, ids: np.ndarray, dimension: int) -> faiss.Index:
    # IndexIDMap2 keeps ids beside the flat inner-product index so chunks can be removed or reused.
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
    return index


def write(index: faiss.Index, folder: Path) -> None:
    faiss.write_index(index, str(folder / FILE))


def read(folder: Path) -> faiss.Index:
    return faiss.read_index(str(folder / FILE))


def all_vectors(index: faiss.Index) -> dict[int, np.ndarray]:
    """Every stored vector by chunk id (used to carry vectors over to a new version)."""
    ids = faiss.vector_to_array(index.id_map)
    flat = faiss.downcast_index(index.index)
    matrix = flat.reconstruct_n(0, flat.ntotal) if flat.ntotal else np.zeros((0, index.d), np.float32)
    return {int(i): matrix[row] for row, i in enumerate(ids)}


def search(index: faiss.Index, query: np.ndarray, n: int) -> list[tuple[int, float]]:
    if index.ntotal == 0:
        return []
    scores, ids = index.search(np.asarray(query, dtype=np.float32).reshape(1, -1), min(n, index.ntotal))
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
