"""BM25 over chunk text (bm25s), stored as JSON and .npy files: no pickle."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

FOLDER = "bm25"
SETTINGS = {"kind": "bm25", "stemmer": "english", "stopwords": "en"}


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer(SETTINGS["stemmer"])


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(list(texts), stopwords=SETTINGS["stopwords"], stemmer=_stemmer(),
                          return_ids=False, show_progress=False)


def build_and_write(texts: Sequence[str], ids: Sequence[int], folder: Path) -> None:
    import bm25s

    target = folder / FOLDER
    target.mkdir()
    np.save(target / "chunk_ids.npy", np.asarray(ids, dtype=np.int64), allow_pickle=False)
    tokens = tokenize(texts) if texts else []
    if not any(tokens):  # bm25s cannot index a corpus without a single term ("x y z": all too short)
        (target / "empty.json").write_text(json.dumps({"chunks": len(tokens), "terms": 0}))
        return
    retriever = bm25s.BM25()
    retriever.index(tokens, show_progress=False)
    retriever.save(str(target), allow_pickle=False)


class LexicalIndex:
    def __init__(self, folder: Path):
        import bm25s

        target = folder / FOLDER
        self.ids = np.load(target / "chunk_ids.npy", allow_pickle=False)
        self.retriever = None if (target / "empty.json").exists() else bm25s.BM25.load(str(target), allow_pickle=False)

    def search(self, query: str, n: int) -> list[tuple[int, float]]:
        tokens = tokenize([query])[0]
        if self.retriever is None or not tokens:
            return []
        scores = self.retriever.get_scores(tokens)
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.ids[i]), float(scores[i])) for i in top if scores[i] > 0]
