"""Unattended refresh: incremental, atomic, locked, safe to kill."""
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import rag
from cli.main import app
from rag.errors import IndexLockedError
from rag.index import IndexStore

pytestmark = pytest.mark.slow


def state(index: Path) -> tuple:
    """What a reader sees: the version's documents and chunk texts (opening it must work)."""
    kb = rag.open(index)
    folder = kb.snapshot.folder
    with sqlite3.connect(folder / "chunks.sqlite") as db:
        docs = sorted(r[0] for r in db.execute("SELECT sha256 FROM documents"))
        chunks = sorted(r[0] for r in db.execute("SELECT text FROM chunks"))
    assert kb.snapshot.vectors.ntotal == len(chunks)
    return tuple(docs), tuple(chunks)


def test_refresh_rescans_recorded_sources_and_matches_a_fresh_build(small_corpus, tmp_path):
    index = tmp_path / "idx"
    rag.ingest([small_corpus], index)
    (small_corpus / "new.md").write_text("# Flood insurance\n\nStandard policies exclude flood damage.\n")
    (small_corpus / "inspection.txt").unlink()
    report = rag.refresh(index)
    assert (report.added, report.removed, report.unchanged) == (1, 1, 2)
    rag.ingest([small_corpus], tmp_path / "fresh")
    assert state(index)[1] == state(tmp_path / "fresh")[1]
    query = "does insurance cover floods"
    fresh = rag.open(tmp_path / "fresh")
    assert [h.text for h in rag.open(index).search(query)] == [h.text for h in fresh.search(query)]


def test_second_writer_is_refused_or_waits(small_corpus, tmp_path):
    index = tmp_path / "idx"
    rag.ingest([small_corpus], index)
    with IndexStore(index).writing():
        with pytest.raises(IndexLockedError, match="being written by pid"):
            rag.ingest([small_corpus], index)
        result = CliRunner().invoke(app, ["refresh", "--index", str(index)])
        assert result.exit_code == 2 and "being written" in result.stderr
    waiting = subprocess.Popen([sys.executable, "-m", "cli.main", "refresh", "--index", str(index), "--wait",
                                "--json"], stdout=subprocess.PIPE, text=True)
    assert json.loads(waiting.communicate(timeout=300)[0])["unchanged"] == 3


def run_ingest(corpus: Path, index: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cli.main", "ingest", str(corpus), "--index", str(index),
                             "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def staged_folders(index: Path) -> list[Path]:
    return [p for p in index.iterdir() if p.name.startswith(".tmp-")]


def test_kill_at_random_moments_leaves_old_or_new_index(small_corpus, tmp_path):
    index = tmp_path / "idx"
    rag.ingest([small_corpus], index)
    before = state(index)
    (small_corpus / "extra.md").write_text("# Radon\n\nRadon is a gas that can enter through the foundation.\n")
    rag.ingest([small_corpus], tmp_path / "after")
    after = state(tmp_path / "after")
    started = time.perf_counter()
    run_ingest(small_corpus, tmp_path / "timing").wait()
    duration = time.perf_counter() - started  # kill times spread over the whole run, the write phase included
    rng = random.Random(7)
    outcomes = []
    for attempt in range(8):
        process = run_ingest(small_corpus, index)
        if attempt % 2:
            time.sleep(rng.uniform(0.3, 1.6) * duration)
        else:  # the moment the new version's folder appears: a kill in the middle of writing it
            while not staged_folders(index) and process.poll() is None:
                time.sleep(0.001)
        process.send_signal(signal.SIGKILL)
        process.wait()
        now = state(index)
        assert now in (before, after)
        outcomes.append("mid-write" if staged_folders(index) else "after" if now == after else "before")
        if now == after:  # back to the old state so later kills can land mid-write again
            (small_corpus / "extra.md").rename(small_corpus / "extra.hold")
            rag.ingest([small_corpus], index)
            (small_corpus / "extra.hold").rename(small_corpus / "extra.md")
    assert "mid-write" in outcomes, outcomes  # a kill with a half-written version on disk left the old one live
    rag.ingest([small_corpus], index)  # the next run cleans up and completes
    assert state(index) == after
    assert not staged_folders(index)


# Where the simulated crash lands, and whether the new version was already live by then.
CRASHES = {"rename": ("rename", 1, False), "replace": ("replace", 1, False),
           "fsync-staged": ("_fsync_dir", 1, False), "fsync-root": ("_fsync_dir", 2, True)}


@pytest.mark.parametrize("failing_step", sorted(CRASHES))
def test_a_crash_at_each_commit_step_keeps_a_whole_version(small_corpus, tmp_path, monkeypatch, failing_step):
    index = tmp_path / "idx"
    rag.ingest([small_corpus], index)
    before = state(index)
    (small_corpus / "escrow.md").unlink()
    import rag.index.store as store

    name, crash_on_call, switched = CRASHES[failing_step]
    owner = store if name == "_fsync_dir" else store.os
    real = getattr(owner, name)
    calls = []

    def crash(*args, **kwargs):
        calls.append(args)
        if len(calls) == crash_on_call:
            raise KeyboardInterrupt("simulated crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, crash)
    with pytest.raises(KeyboardInterrupt):
        rag.ingest([small_corpus], index)
    monkeypatch.undo()
    crashed = state(index)
    if switched:  # the last fsync comes after the pointer switch: the new version is live and whole
        assert crashed != before and not any("one-sixth" in t for t in crashed[1])
    else:
        assert crashed == before
    report = rag.ingest([small_corpus], index)
    assert report.removed == (0 if switched else 1)
    assert not any("escrow" in t for t in state(index)[1])


def test_links_outside_the_source_folder_and_loops_are_reported(small_corpus, tmp_path):
    outside = tmp_path / "secret.md"
    outside.write_text("# Secret\n\nPrivate notes.\n")
    os.symlink(outside, small_corpus / "link.md")
    os.symlink(small_corpus / "loop-a.md", small_corpus / "loop-b.md")
    os.symlink(small_corpus / "loop-b.md", small_corpus / "loop-a.md")
    os.symlink(small_corpus, small_corpus / "self-dir")
    report = rag.ingest([small_corpus], tmp_path / "idx")
    reasons = {Path(p).name: r for p, r in report.skipped}
    assert not report.failed
    assert "outside the source folder" in reasons["link.md"]
    assert "symbolic link" in reasons["loop-a.md"] and "symbolic link" in reasons["loop-b.md"]
    assert report.added == 3


def test_size_limit(small_corpus, tmp_path):
    (small_corpus / "huge.txt").write_text("Mortgage words. " * 100_000)
    settings = rag.Settings.load(env={}).with_overrides(ingest__max_file_mb=0.5)
    report = rag.ingest([small_corpus], tmp_path / "idx", settings)
    assert [Path(p).name for p, _ in report.failed] == ["huge.txt"]
    assert "ingest.max_file_mb" in report.failed[0][1]


def test_changing_the_chunker_rebuilds_with_a_notice(small_corpus, tmp_path):
    index = tmp_path / "idx"
    rag.ingest([small_corpus], index)
    notices = []
    settings = rag.Settings.load(env={}).with_overrides(chunking__max_tokens=64)
    report = rag.ingest([small_corpus], index, settings, log=notices.append)
    assert notices and "rebuilding" in notices[0]
    assert report.updated == 3 and report.embedded == report.chunks
    manifest = json.loads((IndexStore(index).current_dir() / "manifest.json").read_text())
    assert manifest["chunking"]["max_tokens"] == 64


def test_a_file_that_failed_is_not_read_again_until_its_bytes_change(small_corpus, tmp_path):
    index = tmp_path / "idx"
    (small_corpus / "scan.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    first = rag.ingest([small_corpus], index)
    assert [Path(p).name for p, _ in first.failed] == ["scan.md"]

    again = rag.refresh(index)  # nothing new: exit 0 for cron, the old failure still shown
    assert again.failed == [] and again.version == first.version
    assert [(Path(p).name, r.split(":")[0]) for p, r in again.skipped] == [("scan.md", "unchanged since it failed")]

    (small_corpus / "scan.md").write_text("# Radon\n\nA radon test measures the gas in the lowest lived-in level.\n")
    fixed = rag.refresh(index)
    assert fixed.added == 1 and fixed.failed == [] and fixed.skipped == []
    assert "scan.md" in {Path(s).name for s in rag.open(index).manifest.sources}
