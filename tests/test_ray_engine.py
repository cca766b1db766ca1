"""`--engine ray` on a private 2-node Ray cluster on this machine (one worker process per node), started by
the fixture and stopped by its process groups (rag/engines/local_cluster.py; never `ray stop`).

Marked slow: the equality with the local engine needs the real MiniLM in the driver and in both workers."""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rag
from rag.embedding import embedder_from_settings
from rag.errors import RagError
from rag.index import IndexStore, vectors
from rag.isolation import FAILED, LOADED, FileJob
from rag.settings import Settings

pytest.importorskip("ray")

from rag.engines.local_cluster import LocalCluster  # noqa: E402
from rag.engines.ray_engine import RayEngine  # noqa: E402

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
HOMEOWNER = REPO / "corpora" / "homeowner"
QUESTION = "When can I cancel PMI?"


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(nodes=2, cpus=1) as started:
        yield started


@pytest.fixture(scope="module")
def local_index(tmp_path_factory) -> Path:
    index = tmp_path_factory.mktemp("local") / "idx"
    rag.ingest([HOMEOWNER], index, engine="local")
    return index


def cli(*args, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=1800, env={**os.environ, "PYTHONPATH": str(REPO)})


def contents(index: Path) -> dict:
    """Everything an index version holds but its creation time: rows, documents, occurrences, manifest."""
    folder = IndexStore(index).current_dir()
    with sqlite3.connect(folder / "chunks.sqlite") as db:
        tables = {name: sorted(db.execute(f"SELECT * FROM {name}"))  # noqa: S608 - our own table names
                  for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    manifest = json.loads((folder / "manifest.json").read_text())
    for volatile in ("created", "version"):
        manifest.pop(volatile)
    stored = vectors.all_vectors(vectors.read(folder))
    return {"tables": tables, "manifest": manifest, "vectors": stored}


def assert_same_index(got: dict, expected: dict) -> None:
    assert got["tables"] == expected["tables"]  # same chunk ids, texts, metadata
    assert got["manifest"] == expected["manifest"]
    assert set(got["vectors"]) == set(expected["vectors"])
    ids = sorted(expected["vectors"])
    difference = np.abs(np.stack([got["vectors"][i] for i in ids]) - np.stack([expected["vectors"][i] for i in ids]))
    assert difference.max() < 1e-5


def test_the_ray_engine_builds_the_index_the_local_engine_builds_and_it_answers_the_same(cluster, local_index,
                                                                                         tmp_path):
    index = tmp_path / "ray-idx"
    # A relative path from another working directory than the workers' (the cluster runs from /): the workers
    # must be sent absolute paths.
    done = cli("ingest", "homeowner", "--engine", "ray", "--address", cluster.address, "--index", index, "--json",
               cwd=HOMEOWNER.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["failed"] == [] and report["chunks"] == report["embedded"] > 100
    assert_same_index(contents(index), contents(local_index))

    answers = [json.loads(cli("ask", QUESTION, "--index", i, "--json", "--no-log").stdout)
               for i in (index, local_index)]
    assert answers[0]["text"] == answers[1]["text"] and answers[0]["refused"] == answers[1]["refused"]
    assert [(c["n"], Path(c["source"]).name, c["section"], c["page"]) for c in answers[0]["citations"]] == \
           [(c["n"], Path(c["source"]).name, c["section"], c["page"]) for c in answers[1]["citations"]]


def test_a_file_a_worker_cannot_read_is_a_failed_file(cluster, tmp_path):
    settings = Settings()
    engine = RayEngine(embedder_from_settings(settings), settings, cluster.address)
    try:
        good = tmp_path / "good.md"
        good.write_text("# Escrow\n\nThe cushion is at most one-sixth of the yearly payments.\n")
        model = str(engine.embedder.path)
        jobs = [FileJob(n, str(p), None, limit, model, 200, 40, 60.0, 1536)
                for n, (p, limit) in enumerate([(good, 1 << 20), (tmp_path / "missing.md", 1 << 20), (good, 10)])]
        results = engine.prepare_files(jobs)
    finally:
        engine.close()
    assert results[0]["status"] == LOADED and "one-sixth" in results[0]["chunks"][0][0]
    assert results[1]["status"] == FAILED and results[1]["reason"].startswith("cannot read file")
    assert results[2]["status"] == FAILED and "ingest.max_file_mb" in results[2]["reason"]


class KillingEngine:
    """The Ray engine, with some of its workers killed (SIGKILL) as a stage begins."""

    def __init__(self, engine: RayEngine, stage: str, victims: int):
        self.engine, self.stage, self.victims = engine, stage, victims
        self.embedder = engine.embedder

    def _kill(self, stage):
        if stage == self.stage:
            for pid in self.engine.pids[: self.victims]:
                os.kill(pid, signal.SIGKILL)  # a worker process of our own cluster

    def prepare_files(self, jobs):
        self._kill("prepare")
        return self.engine.prepare_files(jobs)

    def embed(self, texts, progress=False):
        self._kill("embed")
        return self.engine.embed(texts, progress)

    def dimension(self):
        return self.engine.dimension()

    def close(self):
        self.engine.close()


def edited_corpus(tmp_path: Path, local_first: bool) -> tuple[Path, Path]:
    corpus = tmp_path / "corpus"
    shutil.copytree(HOMEOWNER / "buying", corpus)
    index = tmp_path / "idx"
    if local_first:
        rag.ingest([corpus], index, engine="local")
        first = sorted(corpus.rglob("*.md"))[0]
        first.write_text(first.read_text() + "\n\n## Added later\n\nA new paragraph about appraisal gaps.\n")
    return corpus, index


@pytest.mark.parametrize("stage", ["prepare", "embed"])
def test_a_killed_worker_is_restarted_and_its_task_retried(cluster, tmp_path, stage):
    corpus, index = edited_corpus(tmp_path, local_first=False)
    settings = Settings.load(overrides={"ingest.ray_retries": 1})
    engine = KillingEngine(RayEngine(embedder_from_settings(settings), settings, cluster.address), stage, 1)
    try:
        report = rag.ingest([corpus], index, settings, engine=engine)
    finally:
        engine.close()
    assert report.failed == [] and report.version == "v000001"
    rag.ingest([corpus], tmp_path / "local", engine="local")
    assert_same_index(contents(index), contents(tmp_path / "local"))


@pytest.mark.parametrize("stage", ["prepare", "embed"])
def test_workers_lost_for_good_fail_the_run_and_the_live_index_is_untouched(cluster, tmp_path, stage):
    corpus, index = edited_corpus(tmp_path, local_first=True)
    before = contents(index)
    settings = Settings.load(overrides={"ingest.ray_retries": 0})
    engine = KillingEngine(RayEngine(embedder_from_settings(settings), settings, cluster.address), stage, 2)
    try:
        with pytest.raises(RagError, match=r"^a Ray worker failed during the ingest .*nothing was committed"):
            rag.ingest([corpus], index, settings, engine=engine)
    finally:
        engine.close()
    assert sorted(p.name for p in index.iterdir() if p.name.startswith("v")) == ["v000001"]
    assert IndexStore(index).current_version() == "v000001"
    assert_same_index(contents(index), before)
    assert rag.ingest([corpus], index, engine="local").version == "v000002"  # the writer's lock was released
