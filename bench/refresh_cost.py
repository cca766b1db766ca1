"""Refresh cost: a full build of a 1,000-document corpus vs a refresh after one edited file.

Both run as fresh processes (as cron would run them), model loading included.
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


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        corpus, index = Path(tmp) / "corpus", Path(tmp) / "index"
        corpus.mkdir()
        make_corpus(corpus)
        full_seconds, full = timed_ingest(corpus, index)
        edited = corpus / "doc-0500.md"
        edited.write_text(edited.read_text() + "\nAn added closing sentence about escrow refunds.\n")
        refresh_seconds, refresh = timed_ingest(corpus, index)
    results = {"documents": DOCUMENTS, "chunks": full["chunks"], "full_build_s": round(full_seconds, 2),
               "refresh_one_edit_s": round(refresh_seconds, 2), "refresh_embedded_chunks": refresh["embedded"],
               "ratio": round(refresh_seconds / full_seconds, 4)}
    print(results)
    write_results("refresh", results)


if __name__ == "__main__":
    main()
