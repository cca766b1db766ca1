"""Search at scale: what one flat scan costs at 1M vectors and what sharding, batching and compact storage change;
and, on this project's own vectors, the recall of fp16/sq8 storage and of the approximate indexes (IVF, HNSW)
that replace the exhaustive scan where it stops being affordable.

Part 1 (synthetic, 1M unit vectors, 384-d as MiniLM): CPU-ms per query on one thread, single queries and
batches of 64 with faiss's default BLAS threshold and with ours (settings: vectors.blas_min_queries), one flat
index against 4 shards (exact merge checked), fp16 and sq8; variants interleaved over rounds, medians kept.
Part 2 (real, MiniLM vectors of the bundled corpus: passages, sentences and sentence pairs; queries: the
project's own questions in corpora/): recall@10 against exact fp32 for fp16, sq8, IVF and HNSW, with each
one's CPU per query relative to the flat scan at that size.

Run: python bench/scale.py [--vectors 1000000] [--skip-real]. Writes bench/results/scale.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

# CPU per query on one thread: BLAS and OpenMP teams would otherwise spin between calls and bill it to the
# next measurement. Set before numpy and faiss load their runtimes.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import faiss  # noqa: E402
import numpy as np  # noqa: E402

from common import RESULTS, ROOT, write_results  # noqa: E402
from rag.index import vectors  # noqa: E402
from rag.settings import VectorSettings  # noqa: E402

FAISS_DEFAULT_BLAS_THRESHOLD = faiss.cvar.distance_compute_blas_threshold  # before any search changes it
DIM = 384
SHARDS = 4
BATCH = 64
ROUNDS = 3
SINGLE_QUERIES = 12  # per variant per round
PARTS = ("synthetic", "ivf_synthetic", "project_vectors")


def unit_rows(rows: int, rng) -> np.ndarray:
    matrix = rng.standard_normal((rows, DIM), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def cpu_ms(action, repeat: int = 1) -> float:
    """CPU time of the whole process (all threads) per repetition, in ms."""
    start = time.process_time()
    for _ in range(repeat):
        action()
    return (time.process_time() - start) * 1000 / repeat


def part_synthetic(size: int) -> dict:
    rng = np.random.default_rng(0)
    base = unit_rows(size, rng)
    ids = np.arange(size, dtype=np.int64)
    queries = unit_rows(BATCH, rng)
    faiss.omp_set_num_threads(1)
    indexes = {
        "fp32_flat": vectors.build(base, ids, DIM, VectorSettings(shard_size=size)),
        f"fp32_{SHARDS}_shards": vectors.build(base, ids, DIM, VectorSettings(shard_size=-(-size // SHARDS))),
        "fp16": vectors.build(base, ids, DIM, VectorSettings(shard_size=size, storage="fp16")),
        "sq8": vectors.build(base, ids, DIM, VectorSettings(shard_size=size, storage="sq8")),
    }
    flat, sharded = indexes["fp32_flat"], indexes[f"fp32_{SHARDS}_shards"]
    exact = {"queries": BATCH,
             "same_ids": bool(np.array_equal(flat.search_batch(queries, 10)[1], sharded.search_batch(queries, 10)[1])),
             "max_score_difference": float(np.abs(flat.search_batch(queries, 10)[0]
                                                  - sharded.search_batch(queries, 10)[0]).max())}
    single = {name: [] for name in indexes}
    batched = {f"{name}_{threshold}": [] for name in indexes for threshold in ("faiss_default", "ours")}
    numpy_batched = []
    default_threshold = FAISS_DEFAULT_BLAS_THRESHOLD
    for round_number in range(ROUNDS):
        order = list(indexes.items())
        rng.shuffle(order)  # interleaved, in a new order each round: no variant always follows the same one
        for name, index in order:
            chosen = queries[round_number * SINGLE_QUERIES:(round_number + 1) * SINGLE_QUERIES]
            single[name].append(statistics.median(cpu_ms(lambda q=q, index=index: index.search_batch(q[None], 10))
                                                   for q in chosen))
            for threshold, value in (("faiss_default", -(-default_threshold // DIM)),
                                     ("ours", VectorSettings().blas_min_queries)):
                index.blas_min_queries = value
                batched[f"{name}_{threshold}"].append(cpu_ms(lambda index=index: index.search_batch(queries, 10))
                                                      / BATCH)
        numpy_batched.append(cpu_ms(lambda: np.argpartition(-(queries @ base.T), 10, axis=1)[:, :10]) / BATCH)
    crossover = {}  # CPU-ms per query by batch size, BLAS path forced on and off: where the setting belongs
    for size_of_batch in (1, 2, 4, 8):
        for mode, min_queries in (("blas", 1), ("per_query", size_of_batch + 1)):
            flat.blas_min_queries = min_queries
            crossover[f"{size_of_batch}_{mode}"] = round(
                cpu_ms(lambda b=size_of_batch: flat.search_batch(queries[:b], 10)) / size_of_batch, 2)
    flat.blas_min_queries = VectorSettings().blas_min_queries
    median = {k: round(statistics.median(v), 2) for k, v in single.items()}
    batched_median = {k: round(statistics.median(v), 2) for k, v in batched.items()}
    stored = {name: round(_bytes_per_vector(index), 1) for name, index in indexes.items()}
    base_ms = median["fp32_flat"]
    return {
        "measured": _now(), "vectors": size, "dimension": DIM, "threads": 1, "rounds": ROUNDS, "batch": BATCH,
        "faiss_default_blas_threshold": int(default_threshold),
        "sharded_equals_flat": exact,
        "cpu_ms_per_query_single": median,
        "cpu_ms_per_query_batched": batched_median,
        "blas_crossover_cpu_ms_per_query": crossover,
        "cpu_ms_per_query_numpy_matmul_batched": round(statistics.median(numpy_batched), 2),
        "ratio_single_to_flat": {k: round(v / base_ms, 2) for k, v in median.items()},
        "ratio_batched_ours_to_single_flat": {k.removesuffix("_ours"): round(v / base_ms, 2)
                                              for k, v in batched_median.items() if k.endswith("_ours")},
        "stored_bytes_per_vector": stored,
    }


def _bytes_per_vector(index: vectors.ShardedVectors) -> float:
    total = 0
    for shard in index.shards:
        inner = faiss.downcast_index(shard.index)
        total += inner.ntotal * (inner.code_size if hasattr(inner, "code_size") else 4 * inner.d) + 8 * shard.ntotal
    return total / max(1, index.ntotal)


def project_texts() -> list[str]:
    """Passages of the bundled index, each of their sentences, and each pair of neighbouring sentences."""
    from rag.index import Snapshot
    from rag.text import split_sentences

    root = ROOT / "indexes" / "homeowner"
    snapshot = Snapshot(root / (root / "CURRENT").read_text().strip())
    texts: list[str] = []
    for row in snapshot.metadata.chunk_rows():
        sentences = [s for s in split_sentences(row.text) if len(s.split()) >= 4]
        texts += [row.embed_text, *sentences, *(" ".join(pair) for pair in zip(sentences, sentences[1:]))]
    snapshot.close()
    return sorted(set(texts))


def project_questions() -> list[str]:
    questions = []
    for name in ("homeowner-questions.jsonl", "training/qa-part-a.jsonl", "training/qa-part-b.jsonl"):
        for line in (ROOT / "corpora" / name).read_text().splitlines():
            if line.strip():
                questions.append(json.loads(line)["question"])
    return questions


def part_real() -> dict:
    from rag.embedding import Embedder

    embedder = Embedder(threads=2)
    texts, questions = project_texts(), project_questions()
    started = time.perf_counter()
    base = np.asarray(embedder.embed(texts), dtype=np.float32)
    queries = np.stack([embedder.embed_query(q) for q in questions]).astype(np.float32)
    embed_s = time.perf_counter() - started
    ids = np.arange(len(base), dtype=np.int64)
    faiss.omp_set_num_threads(1)
    exact = vectors.build(base, ids, DIM)
    truth = exact.search_batch(queries, 10)[1]
    flat_ms = cpu_ms(lambda: [exact.search_batch(q[None], 10) for q in queries]) / len(queries)
    rows = {"fp32_flat": {"recall_at_10": 1.0, "cpu_vs_flat": 1.0}}
    for storage in ("fp16", "sq8"):
        index = vectors.build(base, ids, DIM, VectorSettings(storage=storage))
        scan = lambda index=index: [index.search_batch(q[None], 10) for q in queries]  # noqa: E731
        rows[storage] = {"recall_at_10": round(vectors.recall_against_exact(index, ids, base, queries), 4),
                         "cpu_vs_flat": _relative(scan, flat_ms, len(queries))}
    nlist = max(4, int(4 * np.sqrt(len(base))))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(base)
    ivf.add(base)
    for nprobe in (1, 4, 16):
        ivf.nprobe = nprobe
        rows[f"ivf{nlist}_nprobe{nprobe}"] = _approximate(ivf, queries, truth, flat_ms)
    hnsw = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.add(base)
    for ef in (16, 64, 128):
        hnsw.hnsw.efSearch = ef
        rows[f"hnsw32_ef{ef}"] = _approximate(hnsw, queries, truth, flat_ms)
    return {"measured": _now(), "vectors": len(base), "queries": len(queries),
            "embedding_seconds": round(embed_s, 1),
            "flat_cpu_ms_per_query": round(flat_ms, 3), "variants": rows}


def _approximate(index, queries, truth, flat_ms) -> dict:
    found = np.stack([index.search(q[None], 10)[1][0] for q in queries])
    return {"recall_at_10": round(vectors.recall_at_k(truth, found), 4),
            "cpu_vs_flat": _relative(lambda: [index.search(q[None], 10) for q in queries], flat_ms, len(queries))}


def _relative(action, flat_ms: float, count: int) -> float:
    return round(cpu_ms(action) / count / flat_ms, 3)


def part_ivf_at_scale(size: int) -> dict:
    """CPU per query of IVF at the synthetic size: how far an approximate index moves the cost (recall on
    random vectors says nothing about real ones, so only cost is kept)."""
    rng = np.random.default_rng(1)
    base = unit_rows(size, rng)
    queries = unit_rows(BATCH, rng)
    faiss.omp_set_num_threads(1)
    flat = faiss.IndexFlatIP(DIM)
    flat.add(base)
    flat_ms = statistics.median(cpu_ms(lambda q=q: flat.search(q[None], 10)) for q in queries[:12])
    nlist = 4096
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, nlist, faiss.METRIC_INNER_PRODUCT)
    faiss.omp_set_num_threads(2)
    ivf.train(base[rng.choice(size, 40 * nlist, replace=False)])
    ivf.add(base)
    faiss.omp_set_num_threads(1)
    row = {"measured": _now(), "vectors": size, "nlist": nlist, "flat_cpu_ms_per_query": round(flat_ms, 2)}
    for nprobe in (16, 64):
        ivf.nprobe = nprobe
        row[f"nprobe{nprobe}_cpu_vs_flat"] = round(
            statistics.median(cpu_ms(lambda q=q: ivf.search(q[None], 10)) for q in queries[:32]) / flat_ms, 4)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--skip-real", action="store_true", help="skip part 2 (loads the embedding model)")
    parser.add_argument("--skip-ivf", action="store_true", help="skip IVF at the synthetic size")
    parser.add_argument("--skip-synthetic", action="store_true", help="skip part 1")
    args = parser.parse_args()
    # Parts skipped in this run keep their last measurement (each part carries its own time).
    earlier = RESULTS / "scale.json"
    results = {k: v for k, v in json.loads(earlier.read_text()).items() if k in PARTS} if earlier.is_file() else {}
    if not args.skip_synthetic:
        results["synthetic"] = part_synthetic(args.vectors)
        print(json.dumps(results["synthetic"], indent=1))
    if not args.skip_ivf:
        results["ivf_synthetic"] = part_ivf_at_scale(args.vectors)
        print(json.dumps(results["ivf_synthetic"], indent=1))
    if not args.skip_real:
        results["project_vectors"] = part_real()
        print(json.dumps(results["project_vectors"], indent=1))
    write_results("scale", results)


if __name__ == "__main__":
    main()
