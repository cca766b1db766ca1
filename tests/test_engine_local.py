"""The engine seam of ingest (rag/engines/), fast: the local engine with a stand-in embedder, the choice of
engine by setting and flag, and a missing Ray saying in one line how to install it."""
import random
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

import rag
from cli.main import app
from rag.embedding import Embedder
from rag.engines import open_engine
from rag.engines.local import LocalEngine
from rag.errors import ConfigError
from rag.index import IndexStore, vectors
from rag.isolation import FAILED, LOADED, FileJob, prepare_file
from rag.settings import Settings

from .conftest import FakeEmbedder

runner = CliRunner()


class StandInEmbedder(Embedder):
    """The bundled model's folder and tokenizer (chunking needs them), the fake vectors (nothing loads)."""

    fake = FakeEmbedder()
    dimension = FakeEmbedder.dimension

    def embed(self, texts, progress=False):
        return self.fake.embed(list(texts))


def job(number, path, **changes) -> FileJob:
    values = dict(id=number, path=str(path), known_sha256=None, max_bytes=1 << 20,
                  embedding_model=str(StandInEmbedder().path), max_tokens=200, overlap_tokens=40, timeout_s=60.0,
                  memory_mb=1536)
    return FileJob(**{**values, **changes})


def test_local_engine_maps_the_isolated_file_function_and_results_carry_their_ids(small_corpus, tmp_path):
    files = sorted(p for p in small_corpus.iterdir() if p.is_file())
    (tmp_path / "big.md").write_text("# Big\n\n" + "word " * 400)
    jobs = [job(n, p) for n, p in enumerate(files)]
    jobs += [job(90, tmp_path / "gone.md"), job(91, tmp_path / "big.md", max_bytes=100)]
    random.Random(7).shuffle(jobs)
    results = LocalEngine(StandInEmbedder(), Settings()).prepare_files(jobs)
    assert set(results) == {j.id for j in jobs}
    for j in jobs:
        if j.id < 90:  # the same as the function itself, whatever order the jobs came in
            direct = prepare_file(j.path, None, j.max_bytes, j.embedding_model, j.max_tokens, j.overlap_tokens)
            assert results[j.id] == direct and direct["status"] == LOADED
    assert results[90]["status"] == FAILED and results[90]["reason"].startswith("cannot read file")
    assert results[91]["status"] == FAILED and "ingest.max_file_mb" in results[91]["reason"]


def test_ingest_through_a_given_engine_stores_its_vectors_by_chunk_id(small_corpus, tmp_path):
    engine = LocalEngine(StandInEmbedder(), Settings())
    report = rag.ingest([small_corpus], tmp_path / "idx", engine=engine)
    assert (report.added, report.failed) == (3, []) and report.chunks == report.embedded > 3
    snapshot = rag.index.Snapshot(IndexStore(tmp_path / "idx").current_dir())
    try:
        rows = list(snapshot.metadata.chunk_rows())
        stored = vectors.all_vectors(vectors.read(IndexStore(tmp_path / "idx").current_dir()))
    finally:
        snapshot.close()
    expected = FakeEmbedder().embed([r.embed_text for r in rows])
    assert np.allclose(np.stack([stored[r.id] for r in rows]), expected, atol=1e-6)


def test_the_engine_is_a_setting_and_a_flag_and_an_unknown_one_is_one_line(small_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_INGEST__ENGINE", "ray")
    monkeypatch.setenv("RAG_INGEST__RAY_ADDRESS", "10.0.0.5:6379")
    settings = Settings.load()
    assert (settings.ingest.engine, settings.ingest.ray_address) == ("ray", "10.0.0.5:6379")
    with pytest.raises(ConfigError, match=r"^ingest.engine must be one of local, ray, got 'spark'$"):
        open_engine("spark", Settings(), StandInEmbedder())
    with pytest.raises(ConfigError, match="ingest.ray_workers must be at least 0"):
        Settings.load(overrides={"ingest.ray_workers": -1})
    result = runner.invoke(app, ["ingest", str(small_corpus), "--index", str(tmp_path / "idx"), "--engine", "spark"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ingest.engine must be one of local, ray")
    assert not (tmp_path / "idx").exists()


@pytest.mark.parametrize("command", ["ingest", "refresh"])
def test_without_ray_the_ray_engine_says_in_one_line_how_to_install_it(small_corpus, tmp_path, monkeypatch,
                                                                         command):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as when it is not installed
    index = tmp_path / "idx"
    if command == "refresh":
        rag.ingest([small_corpus], index, engine=LocalEngine(StandInEmbedder(), Settings()))
    before = sorted(p.name for p in index.iterdir()) if index.exists() else []
    args = [command, str(small_corpus)] if command == "ingest" else [command]
    result = runner.invoke(app, args + ["--index", str(index), "--engine", "ray"])
    assert result.exit_code == 2
    assert result.stderr == 'error: the "ray" engine needs Ray, which is not installed; install it with: ' \
                            'pip install "rag[ray]"\n'
    assert (sorted(p.name for p in index.iterdir()) if index.exists() else []) == before


def test_asking_and_searching_never_import_ray():
    code = ("import sys, rag, rag.ingest, rag.engines, cli.main; "
            "assert 'ray' not in sys.modules, 'ray was imported'; print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "ok", done.stderr[-500:]


@pytest.mark.slow
def test_a_search_in_a_fresh_process_never_imports_ray():
    code = ("import atexit, sys; atexit.register(lambda: print('ray' in sys.modules, file=sys.stderr)); "
            "from cli.main import app; app(['search', 'escrow cushion', '--k', '1'])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "escrow" in done.stdout.lower(), done.stderr[-500:]
    assert done.stderr.strip().splitlines()[-1] == "False"
