"""A real KnowledgeBase (real index, answering pipeline and interaction log) with the stand-in models of
conftest.py, served on loopback: what the feedback and learning-loop tests drive over HTTP, loading no model."""
from __future__ import annotations

import importlib
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

import rag
from rag.embedding import bundled_embedding_model
from rag.evidence import EvidenceModel
from rag.server import create_app

from .conftest import FIXTURES, FakeEmbedder, ReplayGenerator
from .live_server import LiveServer

REPLY = "The documents answer this [1]."
# The bundled refusal weights read the fake embedder's bag-of-words cosines, which run lower than MiniLM's: at
# this threshold they pass the fixture corpus' questions (0.26-0.29) and refuse the off-topic ones (under 0.07).
FAKE_EMBEDDER_THRESHOLD = 0.2


class FakeEmbedderEvidence:
    """Where the knowledge base loads its refusal model: the bundled weights at FAKE_EMBEDDER_THRESHOLD."""

    @staticmethod
    def load(path: str = "") -> EvidenceModel:
        model = EvidenceModel.load(path)
        model.threshold = FAKE_EMBEDDER_THRESHOLD
        return model


class IndexingFakeEmbedder(FakeEmbedder):
    """FakeEmbedder plus what an ingest reads of an embedder. `path` is the bundled model's folder because
    chunking counts tokens with its tokenizer; the model itself is never loaded."""

    name = "fake-bag-of-words"
    max_tokens = 256
    path = bundled_embedding_model()

    def embed(self, texts, progress=False):
        return super().embed(texts)

    def embed_query(self, text):
        return self.embed([text])[0]


@contextmanager
def fake_models(reply: str = REPLY):
    """Every KnowledgeBase and ingest opened inside embeds with the fake embedder and answers with `reply`
    (refusing at a threshold suited to the fake embedder's cosines)."""
    with pytest.MonkeyPatch.context() as patch:
        fake = lambda settings, **_: IndexingFakeEmbedder()  # noqa: E731
        ingest, knowledge_base = (importlib.import_module(f"rag.{name}") for name in ("ingest", "knowledge_base"))
        patch.setattr(ingest, "embedder_from_settings", fake)
        patch.setattr(knowledge_base, "embedder_from_settings", fake)
        patch.setattr(knowledge_base, "generator_from_settings", lambda settings: ReplayGenerator(reply))
        patch.setattr(knowledge_base, "EvidenceModel", FakeEmbedderEvidence)
        yield


def build_index(folder: Path) -> Path:
    """The fixture corpus (escrow, home inspection, rate locks) indexed with the fake embedder."""
    corpus = folder / "corpus"
    shutil.copytree(FIXTURES / "corpus", corpus)
    index = folder / "index"
    with fake_models():
        importlib.import_module("rag.ingest").ingest([corpus], index)
    return index


def settings_for(log_path: Path | None, **overrides) -> rag.Settings:
    """Settings with the log at `log_path` (None: logging off), never the user's own data folder."""
    log = {"log__enabled": True, "log__path": str(log_path)} if log_path else {"log__enabled": False}
    return rag.Settings.load(env={}).with_overrides(**log, **overrides)


@contextmanager
def serving(index: Path, log_path: Path | None, reply: str = REPLY, **server):
    """(knowledge base, live server) on loopback; `server` overrides ServerSettings fields."""
    settings = settings_for(log_path, **{f"server__{k}": v for k, v in {"queue_timeout_s": 60, **server}.items()})
    with fake_models(reply):
        kb = importlib.import_module("rag.knowledge_base").open_index(index, settings)
        kb.answerer  # built while the stand-ins are in place  # noqa: B018
    live = LiveServer(create_app(kb, settings.server))
    try:
        yield kb, live
    finally:
        live.stop()
