"""Ingest throughput: documents/s, chunks/s and peak RSS for a from-scratch build.

Each corpus is ingested in a fresh subprocess so peak RSS belongs to that run alone (the file
worker's peak is read as the child's children). With `--baseline DIR` (another checkout of this
repository) the bundled corpus is ingested by both, interleaved A/B/A/B, and the ratio of the
medians is reported: this code's throughput over the baseline's.

Run: python bench/ingest_throughput.py [--baseline /tmp/base --rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, SHARED_EVAL, write_results

CHILD = """
import json, resource, sys, time
import rag
started = time.perf_counter()
report = rag.ingest([sys.argv[1]], sys.argv[2])
seconds = time.perf_counter() - started
try:  # the file worker's peak counts once it has ended
    from rag.isolation import stop_workers
    stop_workers()
except ImportError:  # code from before the worker
    pass
print(json.dumps({"code": rag.__file__, "documents": report.added, "failed": len(report.failed),
                  "chunks": report.chunks, "seconds": round(seconds, 2),
                  "documents_per_s": round(report.added / seconds, 2),
                  "chunks_per_s": round(report.chunks / seconds, 2),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "worker_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)}))
"""


def measure(corpus, code_root: Path = ROOT) -> dict:
    env = dict(os.environ, PYTHONPATH=str(code_root))
    with tempfile.TemporaryDirectory() as index:
        out = subprocess.run([sys.executable, "-c", CHILD, str(corpus), index], capture_output=True, text=True,
                             check=True, cwd=tempfile.gettempdir(), env=env)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    if not Path(figures["code"]).resolve().is_relative_to(code_root.resolve()):
        raise SystemExit(f"ran {figures['code']}, not the code under {code_root}")
    return figures


def side_by_side(corpus: Path, baseline: Path, rounds: int) -> dict:
    runs = {"current": [], "baseline": []}
    for number in range(rounds):
        for name, root in (("current", ROOT), ("baseline", baseline)) if number % 2 == 0 else \
                (("baseline", baseline), ("current", ROOT)):
            runs[name].append(measure(corpus, root))
            print(f"round {number + 1} {name}: {runs[name][-1]}")
    medians = {name: statistics.median(r["seconds"] for r in results) for name, results in runs.items()}
    return {"rounds": rounds, "order": "A/B then B/A, alternating", "baseline_code": str(baseline),
            "median_seconds": medians,
            "throughput_ratio": round(medians["baseline"] / medians["current"], 3),  # >1: this code is faster
            "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with, interleaved")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    corpus = ROOT / "corpora" / "homeowner"
    if args.baseline:
        comparison = side_by_side(corpus, args.baseline, args.rounds)
        print(f"throughput ratio (this code / baseline): {comparison['throughput_ratio']}")
        write_results("ingest", {"ingest_side_by_side": comparison,
                                 "note": "from-scratch ingest of the bundled corpus incl. model load, fresh processes"})
        return
    results = {"bundled_homeowner": measure(corpus)}
    if (SHARED_EVAL / "corpus").is_dir():
        results["shared_eval_cfpb"] = measure(SHARED_EVAL / "corpus")
    for name, figures in results.items():
        print(f"{name}: {figures}")
    write_results("ingest", {"ingest": results, "note": "from-scratch ingest incl. model load; embedding dominates"})


if __name__ == "__main__":
    main()
