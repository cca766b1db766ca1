"""Dense vectors: exact inner-product search in FAISS, keyed by chunk id, in one or more shards.

A version holds either the classic single file `vectors.faiss` (one fp32 shard) or a folder

    vectors/layout.json         storage, shard size, and each shard's file and count
    vectors/shard-00000.faiss   IndexIDMap2 over a flat scan (fp32, fp16 or 8-bit scalar-quantised)

Every layout is an exhaustive dot product: shards are searched together and their top lists merged, so a
sharded fp32 index returns exactly what one flat index returns (equal scores in chunk-id order). fp16 and
sq8 trade a little recall for half and a quarter of the memory; `recall_against_exact` measures that trade.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import faiss
import numpy as np

from ..errors import IndexMismatchError
from ..settings import VECTOR_STORAGE, VectorSettings

FILE = "vectors.faiss"
FOLDER = "vectors"
LAYOUT = "layout.json"
DEFAULTS = VectorSettings()
_QUANTIZERS = {"fp16": faiss.ScalarQuantizer.QT_fp16, "sq8": faiss.ScalarQuantizer.QT_8bit}
_SQ8_LEVELS = 256


class ShardedVectors:
    """Shards of one version searched as one index; the merged top list equals a single flat scan's."""

    def __init__(self, shards: list[faiss.Index], dimension: int, storage: str = "fp32", shard_size: int = 0,
                 blas_min_queries: int = DEFAULTS.blas_min_queries):
        self.shards = shards  # each an IndexIDMap2 over a flat scan; searched together, merged here
        self.d = dimension
        self.storage = storage
        self.shard_size = shard_size
        self.blas_min_queries = blas_min_queries
        ids = [faiss.vector_to_array(s.id_map) for s in shards]
        self._sorted_ids, self._owner = _owner_table(ids)

    @property
    def ntotal(self) -> int:
        return sum(s.ntotal for s in self.shards)

    def search_batch(self, queries: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids of the n best chunks for each query in a batch (rows best first; equal scores
        in chunk-id order, so every layout of the same vectors returns the same rows)."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        n = min(n, self.ntotal)
        if n <= 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        # faiss takes its BLAS path when queries x dimension reaches this process-wide value; only this module
        # sets it, always from the setting, so single queries stay on the faster per-query scan.
        faiss.cvar.distance_compute_blas_threshold = self.blas_min_queries * self.d
        # Each shard gives its best `fetch`; merged, the top n are exact once no shard left out a vector
        # that could tie the n-th score (one round, unless equal scores run past twice n).
        fetch = 2 * n
        while True:
            parts = self._search_shards(queries, fetch)
            scores = np.concatenate([p[0] for p in parts], axis=1)
            ids = np.concatenate([p[1] for p in parts], axis=1)
            order = np.lexsort((ids, -scores), axis=-1)[:, :n]
            scores, ids = np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)
            if all(complete or bool(np.all(part_scores[:, -1] < scores[:, -1]))
                   for part_scores, _, complete in parts):
                return scores, ids
            fetch *= 4

    def _search_shards(self, queries: np.ndarray, fetch: int) -> list[tuple[np.ndarray, np.ndarray, bool]]:
        """Each non-empty shard's best `fetch` (or all it holds, then marked complete)."""
        def one(shard: faiss.Index):
            k = min(fetch, shard.ntotal)
            return (*shard.search(queries, k), k == shard.ntotal)

        filled = [shard for shard in self.shards if shard.ntotal]
        if len(filled) == 1:
            return [one(filled[0])]
        return list(_shard_pool().map(one, filled))  # faiss searches without the GIL: shards in parallel

    def reconstruct(self, chunk_id: int) -> np.ndarray:
        row = np.searchsorted(self._sorted_ids, chunk_id)
        if row >= len(self._sorted_ids) or self._sorted_ids[row] != chunk_id:
            raise KeyError(f"chunk {chunk_id} has no vector")
        return self.shards[self._owner[row]].reconstruct(int(chunk_id))


@lru_cache(maxsize=1)
def _shard_pool() -> ThreadPoolExecutor:
    """One pool for every index in the process: a snapshot replaced by a refresh leaves no threads behind.
    Its threads are the parallelism, so each scans on one OpenMP thread: OpenMP teams of their own would
    oversubscribe the cores and spin-wait between queries."""
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="rag-shard",
                              initializer=faiss.omp_set_num_threads, initargs=(1,))


def _owner_table(ids: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    if not ids:
        return np.zeros(0, np.int64), np.zeros(0, np.int32)
    every = np.concatenate(ids)
    owner = np.concatenate([np.full(len(a), i, np.int32) for i, a in enumerate(ids)])
    order = np.argsort(every, kind="stable")
    return every[order], owner[order]


def build(vectors: np.ndarray, ids: np.ndarray, dimension: int,
          layout: VectorSettings = DEFAULTS) -> ShardedVectors:
    """Index `vectors` (L2-normalised, one row per id) in shards of at most `layout.shard_size`, stored as
    `layout.storage`. Under a million fp32 vectors (the defaults) that is one shard: the classic layout."""
    shard_size, storage = layout.shard_size, layout.storage
    matrix = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, dimension)
    ids = np.asarray(ids, dtype=np.int64)
    step = shard_size or max(1, len(ids))
    starts = range(0, len(ids), step) if len(ids) else [0]
    sq8_ranges = _sq8_ranges(matrix) if storage == "sq8" and len(ids) else None
    shards = [_shard(matrix[s:s + step], ids[s:s + step], dimension, storage, sq8_ranges) for s in starts]
    return ShardedVectors(shards, dimension, storage, shard_size, layout.blas_min_queries)


def _shard(matrix: np.ndarray, ids: np.ndarray, dimension: int, storage: str, sq8_ranges) -> faiss.Index:
    # IndexIDMap2 keeps ids beside the flat scan so chunks can be removed or reused.
    if storage == "fp32":
        inner = faiss.IndexFlatIP(dimension)
    else:
        inner = faiss.IndexScalarQuantizer(dimension, _QUANTIZERS[storage], faiss.METRIC_INNER_PRODUCT)
        if sq8_ranges is not None:
            faiss.copy_array_to_vector(sq8_ranges, inner.sq.trained)  # every shard shares the index's ranges
        inner.is_trained = True
    index = faiss.IndexIDMap2(inner)
    if len(ids):
        index.add_with_ids(matrix, ids)
    return index


def _sq8_ranges(matrix: np.ndarray) -> np.ndarray:
    """faiss's per-dimension (min, width) for 8-bit codes, widened by half a level on each side.

    Codes decode to the middle of their level, so the extreme vectors decode to exactly the data's min
    and max again: a refresh that carries decoded vectors over re-encodes them to the same codes instead
    of narrowing the ranges, and drifting, on every write."""
    low, high = matrix.min(axis=0), matrix.max(axis=0)
    half_level = (high - low) / (2 * (_SQ8_LEVELS - 1))
    width = np.maximum((high - low) + 2 * half_level, 1e-12)
    return np.concatenate([low - half_level, width]).astype(np.float32)


def write(vectors, folder: Path) -> None:
    """Write a version's vectors: the classic single file when that is what they are, else the shard folder."""
    if not isinstance(vectors, ShardedVectors):  # a bare faiss index, as earlier versions of `build` returned
        vectors = ShardedVectors([vectors], vectors.d)
    if len(vectors.shards) == 1 and vectors.storage == "fp32":
        faiss.write_index(vectors.shards[0], str(folder / FILE))
        return
    target = folder / FOLDER
    target.mkdir()
    names = [f"shard-{number:05d}.faiss" for number in range(len(vectors.shards))]
    with ThreadPoolExecutor(max_workers=4) as pool:  # faiss writes without the GIL: shards go out together
        list(pool.map(lambda pair: faiss.write_index(pair[0], str(target / pair[1])), zip(vectors.shards, names)))
    layout = {"storage": vectors.storage, "shard_size": vectors.shard_size, "dimension": vectors.d,
              "metric": "inner_product", "shards": [{"file": name, "count": shard.ntotal}
                                                     for name, shard in zip(names, vectors.shards)]}
    (target / LAYOUT).write_text(json.dumps(layout, indent=1) + "\n")


def read(folder: Path, blas_min_queries: int = DEFAULTS.blas_min_queries) -> ShardedVectors:
    layout_file = folder / FOLDER / LAYOUT
    if not layout_file.is_file():
        index = faiss.read_index(str(folder / FILE))
        return ShardedVectors([index], index.d, blas_min_queries=blas_min_queries)
    try:
        layout = json.loads(layout_file.read_text())
        shards = [faiss.read_index(str(folder / FOLDER / entry["file"])) for entry in layout["shards"]]
        counts_match = [s.ntotal for s in shards] == [entry["count"] for entry in layout["shards"]]
        storage, shard_size, dimension = layout["storage"], layout["shard_size"], layout["dimension"]
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexMismatchError(f"index version {folder} has unreadable vector shards ({exc}); "
                                 "rebuild it with 'rag ingest'") from None
    if not shards or not counts_match or storage not in VECTOR_STORAGE:
        raise IndexMismatchError(f"index version {folder}: {FOLDER}/{LAYOUT} does not match its shard files; "
                                 "rebuild it with 'rag ingest'")
    return ShardedVectors(shards, dimension, storage, shard_size, blas_min_queries)


def all_vectors(vectors) -> dict[int, np.ndarray]:
    """Every stored vector by chunk id (used to carry vectors over to a new version; fp16/sq8 decoded)."""
    if not isinstance(vectors, ShardedVectors):
        vectors = ShardedVectors([vectors], vectors.d)
    found: dict[int, np.ndarray] = {}
    for shard in vectors.shards:
        ids = faiss.vector_to_array(shard.id_map)
        inner = faiss.downcast_index(shard.index)
        matrix = inner.reconstruct_n(0, inner.ntotal) if inner.ntotal else np.zeros((0, shard.d), np.float32)
        found.update((int(i), matrix[row]) for row, i in enumerate(ids))
    return found


def search(vectors, query: np.ndarray, n: int) -> list[tuple[int, float]]:
    """The n chunks whose vectors have the largest dot product with `query`, best first."""
    if not isinstance(vectors, ShardedVectors):
        vectors = ShardedVectors([vectors], vectors.d)
    if vectors.ntotal == 0:
        return []
    scores, ids = vectors.search_batch(np.asarray(query, dtype=np.float32).reshape(1, -1), n)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def recall_against_exact(vectors: ShardedVectors, ids: np.ndarray, originals: np.ndarray, queries: np.ndarray,
                         k: int = 10) -> float:
    """Recall@k of `vectors` (say fp16 or sq8) against an exact fp32 scan of the `originals` they were built
    from (rows matching `ids`): the share of the true top k that the stored index returns.

    The originals must come from outside the index (re-embedded chunk text, or the vectors before quantising):
    a scan of the index's own decoded vectors would agree with it by construction."""
    if vectors.ntotal == 0 or len(queries) == 0:
        return 1.0
    exact = build(originals, ids, vectors.d)
    return recall_at_k(exact.search_batch(queries, k)[1], vectors.search_batch(queries, k)[1])


def recall_at_k(expected_ids: np.ndarray, found_ids: np.ndarray) -> float:
    """The share of each row's expected ids that the found row holds, averaged over rows."""
    hits = [len(set(e[e >= 0]) & set(f[f >= 0])) / max(1, int((e >= 0).sum()))
            for e, f in zip(expected_ids, found_ids)]
    return float(np.mean(hits)) if hits else 1.0
