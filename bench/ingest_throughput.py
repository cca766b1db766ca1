"""Ingest throughput: documents/s, chunks/s and peak RSS for a from-scratch build.

Each corpus is ingested in a fresh subprocess so peak RSS belongs to that run alone.
Run: python bench/ingest_throughput.py
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile

from common import ROOT, SHARED_EVAL, write_results

CHILD = """
import json, resource, sys, time
import rag
started = time.perf_counter()
report = rag.ingest([sys.argv[1]], sys.argv[2])
seconds = time.perf_counter() - started
print(json.dumps({"documents": report.added, "failed": len(report.failed), "chunks": report.chunks,
                  "seconds": round(seconds, 2), "documents_per_s": round(report.added / seconds, 2),
                  "chunks_per_s": round(report.chunks / seconds, 2),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def measure(corpus) -> dict:
    with tempfile.TemporaryDirectory() as index:
        out = subprocess.run([sys.executable, "-c", CHILD, str(corpus), index], capture_output=True, text=True,
                             check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    results = {"bundled_homeowner": measure(ROOT / "corpora" / "homeowner")}
    if (SHARED_EVAL / "corpus").is_dir():
        results["shared_eval_cfpb"] = measure(SHARED_EVAL / "corpus")
    for name, figures in results.items():
        print(f"{name}: {figures}")
    write_results("ingest", {"ingest": results, "note": "from-scratch ingest incl. model load; embedding dominates"})


if __name__ == "__main__":
    main()
