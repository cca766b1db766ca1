"""Hostile input (issue 17): no file can crash, hang or exhaust an ingest.

The whole folder is ingested in a child process, so its peak memory (and its file worker's) can be
read; tracebacks would show on its stderr. Every file must be indexed or reported with a reason.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .hostile_files import big_single_line, remove_tree, write_hostile_corpus

pytestmark = pytest.mark.slow

PEAK_RSS_MB = 1536  # issue 17: the ingest of 200+ hostile files stays under 1.5 GB

CHILD = """
import json, resource, sys
import rag
from rag.index import IndexStore, Manifest
first = rag.ingest([sys.argv[1]], sys.argv[2])
again = rag.refresh(sys.argv[2])
sources = Manifest.read(IndexStore(sys.argv[2]).current_dir()).sources
from rag.isolation import stop_workers
stop_workers()  # a child's peak is counted once it has ended
# VmHWM, not ru_maxrss: Linux folds the peak of the process that forked this one (pytest, with models
# loaded by earlier tests) into ru_maxrss at exec; VmHWM belongs to this program's own memory.
with open("/proc/self/status") as status:
    own_peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"first": first.to_dict(), "again": again.to_dict(), "sources": sorted(sources),
                  "rss_self_mb": own_peak_kb / 1024,
                  "rss_children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


@pytest.fixture(scope="session")
def big_line(tmp_path_factory) -> Path:
    return big_single_line(tmp_path_factory.mktemp("big") / "single-line.txt")


def test_two_hundred_hostile_files_ingest_without_a_traceback(tmp_path, big_line):
    corpus = tmp_path / "hostile"
    try:
        written = write_hostile_corpus(corpus, big_line, tmp_path / "outside")
        assert written >= 200
        check_hostile_ingest(corpus, tmp_path / "idx")
    finally:
        remove_tree(corpus)  # pytest's own clean-up recurses, and this tree is deeper than the limit


def check_hostile_ingest(corpus: Path, index: Path) -> None:
    done = subprocess.run([sys.executable, "-c", CHILD, str(corpus), str(index)], capture_output=True, text=True,
                          timeout=1200)
    assert "Traceback" not in done.stderr and done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    first, again = result["first"], result["again"]

    reported = {entry["path"] for entry in first["failed"] + first["skipped"]}
    indexed = {os.fsencode(source) for source in result["sources"]}
    every_entry = _entries(corpus)
    unaccounted = [path for path in every_entry
                   if _display(path) not in reported and os.path.relpath(path, os.fsencode(index)) not in indexed]
    assert not unaccounted, unaccounted[:10]
    assert all(entry["reason"] for entry in first["failed"] + first["skipped"])
    assert first["added"] >= 60 and len(first["failed"]) >= 60  # both kinds are really there

    reasons = {Path(entry["path"]).name: entry["reason"] for entry in first["failed"]}
    assert "binary" in reasons["png.md"] and "empty" in reasons["empty.txt"]
    passed_over = {Path(entry["path"]).name: entry["reason"] for entry in first["skipped"]}
    assert "encrypted" in reasons["encrypted-RC4-128.pdf"] and "symbolic link" in passed_over["loop-a.md"]
    assert not any("Traceback" in reason for reason in reasons.values())
    names = {Path(source).name for source in result["sources"]}
    for indexed_name in ("utf16-le-bom.md", "utf32-bom.txt", "deep-div-1000.html", "zero-token.md",
                         "spaces-40k.md", "bottom.md", "many-headings.md", "image-bomb.md", "million-lines.txt"):
        assert indexed_name in names, reasons.get(indexed_name)
    # Chunked in bounded memory (the peak below); on a slow machine it may run over its time budget.
    assert "single-line-50mb.txt" in names or "ingest.file_timeout_s" in reasons["single-line-50mb.txt"]
    assert "bad-\\xff.md" in {Path(p["path"]).name for p in first["failed"]} | {
        os.fsencode(Path(s).name).decode("utf-8", "backslashreplace") for s in result["sources"]}

    assert again["added"] == again["updated"] == again["removed"] == 0
    assert again["failed"] == [], again["failed"][:5]  # the files that failed are remembered: `rag refresh` exits 0
    assert again["unchanged"] == len(result["sources"])
    assert result["rss_self_mb"] < PEAK_RSS_MB and result["rss_children_mb"] < PEAK_RSS_MB, result


def _entries(folder: Path) -> list[bytes]:
    """Every non-hidden entry an ingest must account for (files, links, fifos; not folders)."""
    found, pending = [], [os.fsencode(folder)]
    while pending:  # not os.walk: it recurses (Python < 3.12), and the tree is deeper than the limit
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.name.startswith(b"."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif not (entry.is_symlink() and os.path.isdir(entry.path)):  # isdir: False on a loop
                    found.append(entry.path)
    return found


def _display(path: bytes) -> str:
    return path.decode("utf-8", "backslashreplace")


def test_a_file_over_its_time_budget_is_reported_and_the_rest_indexed(small_corpus, tmp_path):
    """The stdlib HTML parser is quadratic on unclosed comments (CPython < 3.11.13): only a budget stops it."""
    import rag

    (small_corpus / "slow.html").write_text("<p>x</p>" + "<!--" * 200_000)
    settings = rag.Settings.load(env={}).with_overrides(ingest__file_timeout_s=3)
    report = rag.ingest([small_corpus], tmp_path / "idx", settings)
    assert [(Path(p).name, "ingest.file_timeout_s" in r) for p, r in report.failed] == [("slow.html", True)]
    assert report.added == 3


def test_a_file_over_its_memory_budget_is_reported_and_the_rest_indexed(small_corpus, tmp_path, big_line):
    import rag

    shutil.copy(big_line, small_corpus / "big.txt")
    settings = rag.Settings.load(env={}).with_overrides(ingest__file_memory_mb=64)
    report = rag.ingest([small_corpus], tmp_path / "idx", settings)
    assert [Path(p).name for p, _ in report.failed] == ["big.txt"]
    assert "memory" in report.failed[0][1]
    assert report.added == 3
