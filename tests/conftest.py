import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag.evidence import EvidenceModel
from rag.text import content_words
from rag.types import Hit

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


class FakeEmbedder:
    """Stands in for MiniLM in fast tests: a hashed bag of content words, normalised. Texts that share
    words are close, deterministically, and nothing is loaded."""

    dimension = 256
    fingerprint = "fake-bag-of-words"

    def embed(self, texts):
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in content_words(text):
                vectors[row, int(hashlib.sha1(word.encode()).hexdigest(), 16) % self.dimension] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)


class ReplayGenerator:
    """Stands in for the language model: replies with fixed text, word by word."""

    source, adapter, context_window = "replay", "", 4096

    def __init__(self, reply: str):
        self.reply = reply

    def render(self, messages):
        return "\n".join(m["content"] for m in messages)

    def count_tokens(self, text):
        return len(text.split())

    def stream(self, messages, max_new_tokens=None):
        for word in self.reply.split(" "):
            yield word + " "

    def likelihoods(self, contexts, continuation):
        return [0.0] * len(contexts)  # no preference: the retrieval order stands


def hit(text, source="a.md", n=0, title="T", section="S", similarity=0.6):
    return Hit(score=1.0, text=text, source=source, title=title, section=section, page=None, chunk_id=n,
               doc_id=f"d{n}", similarity=similarity)


def evidence(threshold: float) -> EvidenceModel:
    """The bundled evidence weights with a chosen threshold: 0 lets every question through, 1 none."""
    model = EvidenceModel.load()
    model.threshold = threshold
    return model


@pytest.fixture(scope="session")
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def embedder():
    """The real bundled MiniLM: for tests marked slow only."""
    from rag.embedding import Embedder

    return Embedder()


@pytest.fixture()
def small_corpus(tmp_path: Path) -> Path:
    """A few real documents in every format, copied so a test may edit them."""
    corpus = tmp_path / "corpus"
    shutil.copytree(FIXTURES / "corpus", corpus)
    return corpus


@pytest.fixture(autouse=True)
def _fast_tests_load_no_model(request, monkeypatch):
    """A test not marked slow that reaches for MiniLM fails at once instead of slowing the fast run."""
    if request.node.get_closest_marker("slow") is None:
        def refuse(*args, **kwargs):
            raise AssertionError("a fast test loaded the real embedding model: use FakeEmbedder or mark it slow")

        monkeypatch.setattr("rag.embedding._load_model", refuse)


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch, tmp_path_factory):
    """No user settings leak in, and nothing a test does lands in the user's folders (the interaction log)."""
    for key in list(os.environ):
        if key.startswith("RAG_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data-home")))
