import os
import shutil
from pathlib import Path

import pytest

from rag.embedding import Embedder

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture()
def small_corpus(tmp_path: Path) -> Path:
    """A few real documents in every format, copied so a test may edit them."""
    corpus = tmp_path / "corpus"
    shutil.copytree(FIXTURES / "corpus", corpus)
    return corpus


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch):
    for key in list(os.environ):
        if key.startswith("RAG_"):
            monkeypatch.delenv(key)
