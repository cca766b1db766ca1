"""Search latency: one query against 10k, 100k and 1M normalised 384-d vectors.

Compares FAISS IndexFlatIP (the index rag uses) with the memory-bandwidth bound:
a flat scan must read every vector once, so bound = bytes / measured bandwidth.
Also times a full `KnowledgeBase.search` (query embedding, FAISS, BM25, SQLite)
on the bundled index. Run: python bench/search_latency.py
"""
from __future__ import annotations

import time

import faiss
import numpy as np

from common import ROOT, write_results

DIM = 384
SIZES = (10_000, 100_000, 1_000_000)
QUERIES = 200


def percentiles(samples: list[float]) -> dict:
    ms = np.array(samples) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3)}


def bandwidth_gbps() -> float:
    data = np.ones(256 * 1024 * 1024 // 4, dtype=np.float32)  # 256 MB, beyond any cache
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        data.sum()
        best = min(best, time.perf_counter() - start)
    return data.nbytes / best / 1e9


def flat_search(n: int, threads: int, rng) -> dict:
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
    index.add_with_ids(vectors, np.arange(n, dtype=np.int64))
    queries = rng.standard_normal((QUERIES, DIM), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    faiss.omp_set_num_threads(threads)
    index.search(queries[:5], 10)
    samples = []
    for q in queries:
        start = time.perf_counter()
        index.search(q[None], 10)
        samples.append(time.perf_counter() - start)
    return percentiles(samples)


def end_to_end() -> dict:
    import rag

    kb = rag.open(ROOT / "indexes" / "homeowner")
    questions = ["How much do I need for a down payment?", "When can I cancel PMI?", "What is escrow?",
                 "How do I appeal my property tax assessment?", "What is a rate lock?"] * 20
    kb.search(questions[0])
    samples = []
    for q in questions:
        start = time.perf_counter()
        kb.search(q, k=5)
        samples.append(time.perf_counter() - start)
    return {"chunks": kb.manifest.counts["chunks"], **percentiles(samples)}


def main() -> None:
    rng = np.random.default_rng(0)
    gbps = bandwidth_gbps()
    results = {"bandwidth_gb_per_s": round(gbps, 2), "flat": {}}
    for n in SIZES:
        bound_ms = n * DIM * 4 / (gbps * 1e9) * 1000
        row = {"bound_ms": round(bound_ms, 3), "faiss_1_thread": flat_search(n, 1, rng),
               "faiss_all_threads": flat_search(n, 0 or __import__("os").cpu_count(), rng)}
        row["ratio_to_bound_p50"] = round(row["faiss_1_thread"]["p50_ms"] / bound_ms, 2)
        results["flat"][str(n)] = row
        print(f"{n:>9} vectors: {row}")
    results["knowledge_base_search"] = end_to_end()
    print("KnowledgeBase.search on the bundled index:", results["knowledge_base_search"])
    write_results("search", results)


if __name__ == "__main__":
    main()
