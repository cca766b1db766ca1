"""Sharded and quantised vector storage: exact merge, recall of fp16/sq8, fusion with BM25, old indexes."""
import json
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest

import rag
from rag.errors import ConfigError, IndexMismatchError
from rag.index import Manifest, Snapshot, lexical, metadata, vectors
from rag.index.metadata import ChunkRow, Occurrence
from rag.retrieval import Retriever
from rag.settings import RetrievalSettings, Settings, VectorSettings

from .conftest import REPO, FakeEmbedder

# `rag.ingest` is the function, loaded on first use; reaching the module through it (never `from rag.ingest
# import …` first, which would leave the package attribute naming the module) keeps `rag.ingest(...)` working.
INGEST = sys.modules[rag.ingest.__module__]

DIMENSION = 384


def normalised(rows: int, seed: int, clusters: int = 0) -> np.ndarray:
    """Unit vectors; with clusters, grouped around a few centres like real passage embeddings."""
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((rows, DIMENSION)).astype(np.float32)
    if clusters:
        centres = rng.standard_normal((clusters, DIMENSION)).astype(np.float32) * 2.0
        matrix += centres[rng.integers(0, clusters, rows)]
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def corpus():
    matrix = normalised(20_000, seed=1, clusters=50)
    ids = np.random.default_rng(2).permutation(np.arange(10, 90_000, 3))[:len(matrix)].astype(np.int64)
    queries = normalised(1_000, seed=3, clusters=50)
    return matrix, ids, queries


def layout(**fields) -> VectorSettings:
    return VectorSettings(**fields)


def test_sharded_search_equals_one_flat_index_on_1000_queries(corpus, tmp_path):
    matrix, ids, queries = corpus
    flat = vectors.build(matrix, ids, DIMENSION, layout(shard_size=len(ids)))
    sharded = vectors.build(matrix, ids, DIMENSION, layout(shard_size=3_000))
    vectors.write(sharded, tmp_path)
    reread = vectors.read(tmp_path)
    assert len(reread.shards) == 7 and [s.ntotal for s in reread.shards][-1] == 2_000  # uneven last shard

    for batch in (queries, queries[:8]):  # the BLAS path (a batch of 1,000) and the per-query path (8)
        flat_scores, flat_ids = flat.search_batch(batch, 10)
        shard_scores, shard_ids = reread.search_batch(batch, 10)
        assert np.array_equal(flat_ids, shard_ids)
        np.testing.assert_allclose(flat_scores, shard_scores, rtol=0, atol=1e-6)
    for query in queries[:50]:  # the retriever's own call, one query at a time
        found, expected = vectors.search(reread, query, 10), vectors.search(flat, query, 10)
        assert [i for i, _ in found] == [i for i, _ in expected]
        np.testing.assert_allclose([s for _, s in found], [s for _, s in expected], rtol=0, atol=1e-6)


def test_reconstruct_and_carry_over_find_every_vector_in_its_shard(corpus):
    matrix, ids, _ = corpus
    sharded = vectors.build(matrix[:5_000], ids[:5_000], DIMENSION, layout(shard_size=1_200))
    assert np.array_equal(sharded.reconstruct(int(ids[4_321])), matrix[4_321])
    carried = vectors.all_vectors(sharded)
    assert len(carried) == 5_000 and np.array_equal(carried[int(ids[17])], matrix[17])
    with pytest.raises(KeyError):
        sharded.reconstruct(1)  # an id no shard holds


@pytest.mark.parametrize("storage, lowest_recall, size_share", [("fp16", 0.99, 0.5), ("sq8", 0.9, 0.25)])
def test_compact_storage_keeps_recall_at_a_fraction_of_the_size(corpus, tmp_path, storage, lowest_recall,
                                                                size_share):
    matrix, ids, queries = corpus
    compact = vectors.build(matrix, ids, DIMENSION, layout(storage=storage, shard_size=8_000))
    vectors.write(compact, tmp_path)
    reread = vectors.read(tmp_path)
    assert reread.storage == storage and json.loads((tmp_path / "vectors" / "layout.json").read_text())["storage"] \
        == storage
    recall = vectors.recall_against_exact(reread, ids, matrix, queries, k=10)
    assert lowest_recall <= recall <= 1.0
    stored = sum(f.stat().st_size for f in (tmp_path / "vectors").glob("*.faiss"))
    assert stored < (size_share + 0.05) * matrix.nbytes
    # Against itself an fp32 index is exact, and a deliberately wrong reference shows the measure can fail.
    flat = vectors.build(matrix, ids, DIMENSION)
    assert vectors.recall_against_exact(flat, ids, matrix, queries[:100]) == 1.0
    assert vectors.recall_against_exact(reread, ids, normalised(len(ids), seed=9), queries[:100]) < 0.1


def test_sq8_vectors_carried_to_a_new_version_keep_their_codes(corpus):
    matrix, ids, _ = corpus
    first = vectors.build(matrix[:3_000], ids[:3_000], DIMENSION, layout(storage="sq8"))
    carried = vectors.all_vectors(first)
    second = vectors.build(np.stack([carried[int(i)] for i in ids[:3_000]]), ids[:3_000], DIMENSION,
                           layout(storage="sq8"))
    again = vectors.all_vectors(second)
    drift = max(float(np.abs(again[int(i)] - carried[int(i)]).max()) for i in ids[:3_000])
    assert drift < 1e-5  # a refresh does not re-quantise what it carries over


def test_empty_and_single_vector_indexes(tmp_path):
    empty = vectors.build(np.zeros((0, DIMENSION), np.float32), np.zeros(0, np.int64), DIMENSION,
                          layout(storage="sq8"))
    assert empty.ntotal == 0 and vectors.search(empty, normalised(1, 0)[0], 5) == []
    one = vectors.build(normalised(1, 4), np.array([7]), DIMENSION, layout(shard_size=1))
    assert [i for i, _ in vectors.search(one, normalised(1, 5)[0], 5)] == [7]


def _write_version(folder: Path, texts: list[str], embedder, vector_layout: VectorSettings) -> Path:
    folder.mkdir(parents=True)
    rows = [ChunkRow(i + 1, INGEST.dedup_key(t), t, t) for i, t in enumerate(texts)]
    ids = np.array([r.id for r in rows], np.int64)
    vectors.write(vectors.build(embedder.embed(texts), ids, embedder.dimension, vector_layout), folder)
    metadata.write(folder, [("d1", "a.md", "A", "markdown", "0" * 64)], rows,
                   [Occurrence(r.id, "d1", n, "S", None, 0, len(r.text)) for n, r in enumerate(rows)])
    lexical.build_and_write(texts, ids, folder)
    Manifest(embedding={"fingerprint": embedder.fingerprint, "dimension": embedder.dimension},
             chunking={}, lexical=dict(lexical.SETTINGS)).write(folder)
    return folder


class QueryEmbedder(FakeEmbedder):
    def embed_query(self, text):
        return self.embed([text])[0]


def test_hybrid_fusion_is_the_same_over_shards_as_over_one_index(tmp_path):
    words = ("roof gutter sump pump radon furnace filter escrow deductible mortgage lien permit mold attic "
             "insulation chimney flue warranty appraisal easement setback").split()
    rng = np.random.default_rng(6)
    texts = [" ".join(rng.choice(words, size=8)) + f" clause {n}" for n in range(300)]
    embedder = QueryEmbedder()
    one = Snapshot(_write_version(tmp_path / "one" / "v000001", texts, embedder, layout()))
    many = Snapshot(_write_version(tmp_path / "many" / "v000001", texts, embedder,
                                   layout(shard_size=37, storage="fp32")))
    assert len(many.vectors.shards) == 9 and len(one.vectors.shards) == 1
    settings = RetrievalSettings(k=10)
    for query in ["sump pump radon", "escrow deductible", "clause 17", "chimney flue permit", "mold in the attic"]:
        expected = Retriever(one, embedder, settings).search(query)
        found = Retriever(many, embedder, settings).search(query)
        assert [(h.chunk_id, h.score, h.similarity, h.lexical_score) for h in found] == \
               [(h.chunk_id, h.score, h.similarity, h.lexical_score) for h in expected]
        assert any(h.lexical_score > 0 for h in found)  # BM25 took part


def test_a_versions_storage_recall_is_measured_against_re_embedded_text(tmp_path):
    rng = np.random.default_rng(8)
    words = [f"term{n}" for n in range(400)]
    texts = [" ".join(rng.choice(words, size=12)) for _ in range(400)]
    questions = [" ".join(rng.choice(words, size=3)) for _ in range(40)]
    embedder = QueryEmbedder()
    exact = Snapshot(_write_version(tmp_path / "a" / "v000001", texts, embedder, layout()))
    compact = Snapshot(_write_version(tmp_path / "b" / "v000001", texts, embedder, layout(storage="sq8")))
    assert exact.storage_recall(embedder, questions) == 1.0
    assert 0.8 <= compact.storage_recall(embedder, questions) <= 1.0
    assert compact.storage_recall(embedder, []) == 1.0


def test_the_bundled_single_file_index_still_opens_and_searches():
    root = REPO / "indexes" / "homeowner"
    folder = root / (root / "CURRENT").read_text().strip()
    assert (folder / "vectors.faiss").is_file() and not (folder / "vectors").exists()
    snapshot = Snapshot(folder)
    raw = faiss.read_index(str(folder / "vectors.faiss"))
    # The count comes from the manifest, so rebuilding the bundled index does not break this test.
    assert snapshot.vectors.ntotal == raw.ntotal == snapshot.manifest.counts["chunks"] > 400
    assert snapshot.vectors.storage == "fp32"
    query = raw.reconstruct(int(faiss.vector_to_array(raw.id_map)[5]))
    scores, ids = raw.search(query.reshape(1, -1), 10)
    assert vectors.search(snapshot.vectors, query, 10) == [(int(i), float(s)) for i, s in zip(ids[0], scores[0])]
    snapshot.close()


def test_a_damaged_shard_layout_is_one_clear_error(corpus, tmp_path):
    matrix, ids, _ = corpus
    vectors.write(vectors.build(matrix[:100], ids[:100], DIMENSION, layout(shard_size=30)), tmp_path)
    layout_file = tmp_path / "vectors" / "layout.json"
    data = json.loads(layout_file.read_text())
    data["shards"][0]["count"] = 31
    layout_file.write_text(json.dumps(data))
    with pytest.raises(IndexMismatchError, match="layout.json does not match"):
        vectors.read(tmp_path)
    layout_file.write_text("{not json")
    with pytest.raises(IndexMismatchError, match="unreadable vector shards"):
        vectors.read(tmp_path)


@pytest.mark.parametrize("field, value, message", [
    ("vectors.storage", "fp8", "vectors.storage must be one of fp32, fp16, sq8"),
    ("vectors.shard_size", 0, "vectors.shard_size must be at least 1"),
    ("vectors.blas_min_queries", 0, "vectors.blas_min_queries must be at least 1"),
    ("server.replicas", 0, "server.replicas must be between 1 and 64"),
])
def test_bad_vector_and_replica_settings_are_one_line_errors(field, value, message):
    with pytest.raises(ConfigError, match=message):
        Settings.load(env={}, overrides={field: value})


class IndexingFakeEmbedder(QueryEmbedder):
    """What an ingest reads of an embedder; `path` is the bundled model's folder because chunking counts
    tokens with its tokenizer (the model itself is never loaded)."""

    name = "fake-bag-of-words"
    max_tokens = 256

    @property
    def path(self):
        from rag.embedding import bundled_embedding_model

        return bundled_embedding_model()

    def embed(self, texts, progress=False):
        return super().embed(texts)


def test_ingest_and_refresh_write_the_configured_layout(small_corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(INGEST, "embedder_from_settings", lambda settings, **_: IndexingFakeEmbedder())
    settings = Settings.load(env={}, overrides={"vectors.shard_size": 2, "vectors.storage": "sq8"})
    rag.ingest([small_corpus], tmp_path / "index", settings)
    first = Snapshot(tmp_path / "index" / "v000001")
    assert first.vectors.storage == "sq8" and len(first.vectors.shards) >= 2
    next(small_corpus.rglob("*.md")).write_text("# Sump pumps\n\nTest the sump pump every spring.\n")
    rag.refresh(tmp_path / "index", settings)
    second = Snapshot(tmp_path / "index" / "v000002")
    assert second.vectors.storage == "sq8" and second.vectors.ntotal == second.metadata.count("chunks")
