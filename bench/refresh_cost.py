"""Refresh cost: a full build of a 1,000-document corpus vs a refresh after one edited file.

Measured twice: as fresh processes (as cron runs them: Python, torch and model
start-up included, a fixed ~5-10 s) and in one warm process (the library API, as
a long-running refresher or the server would call it).
Documents are made by recombining paragraphs of the bundled corpus, each marked
so no two are duplicates. Run: python bench/refresh_cost.py
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, write_results

DOCUMENTS = 1000


def make_corpus(folder: Path) -> None:
    paragraphs = [p.strip() for f in sorted((ROOT / "corpora" / "homeowner").rglob("*.md"))
                  for p in f.read_text().split("\n\n") if len(p.split()) > 25 and not p.startswith("#")]
    rng = random.Random(0)
    for number in range(DOCUMENTS):
        picked = rng.sample(paragraphs, 3)
        body = "\n\n".join(f"{p} (Note {number}-{i}.)" for i, p in enumerate(picked))
        (folder / f"doc-{number:04d}.md").write_text(f"# Synthetic note {number}\n\n## Part one\n\n{body}\n")


def timed_ingest(corpus: Path, index: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "cli.main", "ingest", str(corpus), "--index", str(index), "--json"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return time.perf_counter() - started, json.loads(out.stdout)


def warm_ingest(corpus: Path, index: Path) -> tuple[float, dict]:
    import rag

    started = time.perf_counter()
    report = rag.ingest([corpus], index)
    return time.perf_counter() - started, report.to_dict()


def measure(run, tmp: Path, label: str) -> dict:
    corpus, index = tmp / f"corpus-{label}", tmp / f"index-{label}"
    corpus.mkdir()
    make_corpus(corpus)
    full_seconds, full = run(corpus, index)
    edited = corpus / "doc-0500.md"
    edited.write_text(edited.read_text() + "\nAn added closing sentence about escrow refunds.\n")
    refresh_seconds, refresh = run(corpus, index)
    return {"chunks": full["chunks"], "full_build_s": round(full_seconds, 2),
            "refresh_one_edit_s": round(refresh_seconds, 2), "refresh_embedded_chunks": refresh["embedded"],
            "ratio": round(refresh_seconds / full_seconds, 4)}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = {"documents": DOCUMENTS, "cold_processes": measure(timed_ingest, Path(tmp), "cold")}
        if "rag" not in sys.modules:
            import rag  # noqa: F401  (imports and model load happen before the warm timings)
            rag.open(ROOT / "indexes" / "homeowner").search("warm up")
        results["warm_process"] = measure(warm_ingest, Path(tmp), "warm")
    print(results)
    write_results("refresh", results)


if __name__ == "__main__":
    main()
