"""The embedder computes a plain mean-pooled folder (the bundled MiniLM) with transformers alone, and
gives the vectors sentence-transformers gives: the shipped index stays valid, the import stays cheap."""
import subprocess
import sys

import numpy as np
import pytest

from rag.embedding import Embedder, _MeanPooledModel, _SentenceTransformerModel, mean_pooled


def test_the_bundled_model_is_a_plain_mean_pooled_chain(tmp_path):
    embedder = Embedder()
    assert mean_pooled(embedder.path)
    (tmp_path / "modules.json").write_text('[{"type": "sentence_transformers.models.Transformer", "path": ""}]')
    assert not mean_pooled(tmp_path)  # anything else goes through sentence-transformers itself
    (tmp_path / "modules.json").write_text("not json")
    assert not mean_pooled(tmp_path)


@pytest.mark.slow
def test_vectors_match_sentence_transformers():
    embedder = Embedder(threads=1)
    texts = ["How much do I need for a down payment?", "", "escrow " * 400, "Ünïcödé — 住宅ローン 🏠",
             "Private mortgage insurance can be cancelled at 20% equity."]
    own = embedder.embed(texts)
    assert isinstance(embedder.model, _MeanPooledModel)
    reference = _SentenceTransformerModel(str(embedder.path)).encode(texts, 2, False)
    assert own.shape == reference.shape == (len(texts), 384)
    assert np.abs(own - reference).max() < 1e-5


@pytest.mark.slow
def test_embedding_does_not_import_sentence_transformers():
    code = ("import sys; from rag.embedding import Embedder; Embedder().embed_query('escrow'); "
            "print('sentence_transformers' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


@pytest.mark.slow
def test_answers_may_embed_at_int8_while_passages_stay_float32():
    import rag
    from rag.embedding import embedder_from_settings

    settings = rag.Settings.load(env={}, overrides={"embedding.query_precision": "int8"})
    queries, passages = embedder_from_settings(settings, queries=True), embedder_from_settings(settings)
    assert (queries.precision, passages.precision) == ("int8", "float32")
    assert queries.fingerprint == passages.fingerprint  # the index is checked against the same model
    texts = ["When can I cancel PMI?", "Escrow pays property taxes and homeowners insurance.", "roof " * 300]
    quantised, exact = queries.embed(texts), passages.embed(texts)
    assert np.abs(quantised - exact).max() > 0  # a different computation …
    assert (np.sum(quantised * exact, axis=1) > 0.97).all()  # … of nearly the same unit vectors
    assert np.allclose(np.linalg.norm(quantised, axis=1), 1, atol=1e-5)
    with pytest.raises(rag.errors.ConfigError, match="^embedding.query_precision must be one of float32, int8"):
        rag.Settings.load(env={}, overrides={"embedding.query_precision": "int4"})
