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
