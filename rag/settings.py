"""One typed settings object: defaults, then a TOML file, then environment, then flags.

Environment variables are read here and nowhere else:
``RAG_CONFIG`` names a TOML file, ``RAG_INDEX`` the index directory, ``RAG_API_KEY``
the HTTP server's key, and
``RAG_<SECTION>__<FIELD>`` (e.g. ``RAG_RETRIEVAL__K=8``) any other field.

The `[answering]` section is the answering policy (`rag.policy.AnsweringPolicy`): every
threshold, weight and pattern the answering stages use, each documented in its field.
`Settings.validate` checks every field's bounds and the fields against each other, once,
after all layers are applied; a bad value is a one-line `ConfigError` naming the field.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

# In a checkout these are the top-level folders; in an installed wheel, its own copies (rag/bundled.py).
from .bundled import BUNDLED_ADAPTER, DEFAULT_INDEX
from .errors import ConfigError
from .policy import AnsweringPolicy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _bundled_adapter() -> str:
    return str(BUNDLED_ADAPTER) if (BUNDLED_ADAPTER / "adapter_config.json").is_file() else ""


def _adapter_in_use() -> str:
    """The adapter last promoted by `rag adapters promote` (passed its evaluation gate), else the bundled one."""
    from .tuning.registry import promoted_adapter  # imported here: the tuning package imports these settings' users

    return promoted_adapter() or _bundled_adapter()


@dataclass
class EmbeddingSettings:
    model: str = ""  # a sentence-transformers folder; empty means the bundled MiniLM
    batch_size: int = 32
    # Precision of the embedder that answers use (questions, and the passages' sentences when choosing quotes):
    # "int8" (quantised when loaded; CTranslate2 models only, others stay float32) or "float32". Passages are
    # always embedded at float32 by an ingest, so an index does not depend on it. Measured on the tune splits,
    # int8 against float32: correct bundled 0.657 / 0.657, CFPB 0.512 / 0.500, refusals and citations within
    # one question; same top passage for 98 % of 730 questions; `rag serve` peaks 74 MB lower (631 / 705 MB).
    query_precision: str = "int8"


@dataclass
class ChunkingSettings:
    max_tokens: int = 200  # embedder word pieces per chunk, heading prefix included
    overlap_tokens: int = 40


@dataclass
class IngestSettings:
    max_file_mb: float = 50.0
    file_timeout_s: float = 60.0  # a file whose loading, cleaning and chunking takes longer is reported as failed
    file_memory_mb: int = 1536  # … or that needs more memory than this
    # Where per-file work and embedding run: "local" (this process and its file worker) or "ray" (an existing
    # Ray cluster; pip install "rag[ray]"). Dedup, reuse and the index write stay here either way. On a small
    # corpus Ray is slower (49 files: 9.7 s against 0.8 s), so it is chosen, never automatic.
    engine: str = "local"
    # The cluster for engine "ray": "auto" (the one `ray start` began on this machine) or HOST:PORT of its head.
    # An ingest never starts a cluster. Ray's control port listens on every interface: start the cluster with
    # RAY_AUTH_MODE=token and give the driver its RAY_AUTH_TOKEN (environment).
    ray_address: str = "auto"
    ray_workers: int = field(default=0, metadata={"low": 0})  # worker actors (one model each); 0: cluster CPUs
    ray_cpus_per_worker: int = field(default=1, metadata={"low": 1})  # each actor's torch threads, too
    ray_batch_passages: int = field(default=256, metadata={"low": 1})  # passages per embedding task
    ray_retries: int = field(default=1, metadata={"low": 0})  # restarts of a worker that dies, and of its task


VECTOR_STORAGE = ("fp32", "fp16", "sq8")
EMBEDDING_PRECISIONS = ("float32", "int8")


@dataclass
class VectorSettings:
    """How an index version stores its vectors; every layout is an exhaustive inner-product scan."""
    # At most this many vectors per shard; a larger index is split into shards searched together and merged
    # exactly. One fp32 shard is the classic single vectors.faiss file.
    shard_size: int = field(default=1_000_000, metadata={"low": 1})
    # "fp32" (exact), "fp16" (half the memory) or "sq8" (8 bits per dimension, a quarter); still exhaustive.
    storage: str = "fp32"
    # Batches of at least this many queries take faiss's matrix-multiply (BLAS) path: ~8x less CPU per query
    # at 64 queries, a loss below ~3 (measured: bench/scale.py). faiss's own default sends single queries
    # there too once the threshold is lowered, and keeps batches under ~330 queries off it.
    blas_min_queries: int = field(default=4, metadata={"low": 1})


ENGINES = ("local", "ray")  # where ingest reads and embeds files (rag.engines)
FUSIONS = ("learned", "rrf")  # how retrieval orders its candidates (rag.fusion)
MAX_K = 50  # the most passages a search returns; the CLI and the server share this bound


@dataclass
class RetrievalSettings:
    k: int = 5
    hybrid: bool = True
    candidates: int = 50
    # How the dense and BM25 candidates are ordered: "learned" (rag.fusion's ranker, fitted by rag tune-ranker on
    # training-side questions) or "rrf" (reciprocal-rank fusion, by ranks only). Tune splits, a passage holding
    # every gold phrase in the top 2 / 4 (bench/results/fusion.json): see docs/measured.md.
    fusion: str = "learned"
    ranker: str = ""  # a ranker file written by 'rag tune-ranker'; empty means the bundled one
    rrf_k: int = 60  # fusion "rrf": the rank offset
    lexical_weight: float = 1.0  # fusion "rrf": BM25's weight beside the dense ranking's 1
    near_duplicate: float = 0.97  # cosine above which a lower hit is dropped as a repeat


@dataclass
class GenerationSettings:
    model: str = ""  # a causal-LM folder or a .gguf file; empty means bundled SmolLM2
    # The runtime that generates and scores: "ctranslate2" (int8, the adapter merged in, converted once into the
    # cache; ~3x faster here and the same answers on the bundled questions) or "transformers" (float32 + PEFT,
    # the exact reference, and what training uses). A fast backend that fails to load falls back to transformers.
    backend: str = "ctranslate2"
    adapter: str = field(default_factory=_adapter_in_use)  # a PEFT LoRA folder; "" for the base model
    max_new_tokens: int = 160
    repetition_penalty: float = 1.05  # above 1 discourages the small model's loops; much higher rewords the passages
    context_tokens: int = 2048  # prompt plus answer; bounded by the model's own window too
    passages: int = 4  # retrieved passages offered to the model
    # Choose them by how well each predicts the question (the generator scores rerank_candidates passages). Off:
    # retrieval's order. Tune splits, on vs off: correct bundled 0.664 / 0.657, CFPB 0.525 / 0.512 — 3 of 296
    # answerable questions gained, none lost; citations and refusals the same. Off because it doubles a warm
    # answer's CPU and holds the base weights and the scoring pass's logits (`rag serve` peak 890 vs 629 MB).
    rerank: bool = False
    rerank_candidates: int = 8  # retrieved passages the reranker chooses them from
    evidence_model: str = ""  # calibrated refusal model (JSON); empty means the bundled one
    system_prompt: str = ""  # empty means the built-in instruction
    passage_template: str = ""  # fields: {n} {source_line} {text}
    user_template: str = ""  # fields: {passages} {question}

    @property
    def prompt_tokens(self) -> int:
        """The prompt's share of the context: what is left after the answer's allowance."""
        return self.context_tokens - self.max_new_tokens


@dataclass
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str = ""  # when set, /v1, /search and /ask need "Authorization: Bearer <key>"
    max_request_bytes: int = 65536
    max_question_chars: int = 2000
    concurrency: int = 1  # answers generated at once; the CPU is the limit
    queue_size: int = 8  # requests allowed to wait for a slot; beyond that, 429
    queue_timeout_s: float = 60.0  # a request waiting longer gets 429 with Retry-After
    model_name: str = "rag-homeowner"
    replicas: int = field(default=1, metadata={"low": 1, "high": 64})  # answering processes behind one port


@dataclass
class LogSettings:
    """The interaction log (rag.interactions): every answer, its feedback, and what `rag stats` reads."""

    enabled: bool = True  # the CLI's --no-log turns it off for one command
    path: str = ""  # a SQLite file; empty: interactions.sqlite3 in the per-user data folder (never inside an index)
    retention_days: float = field(default=365.0, metadata={"low": 0.0})  # older answers are deleted; 0: no limit
    retention_rows: int = field(default=1_000_000, metadata={"low": 0})  # only the newest N kept; 0: no limit
    redact: bool = False  # store questions and answers with emails, phone and account-like numbers masked
    max_feedback_chars: int = field(default=4000, metadata={"low": 1})  # a longer correction or note is refused
    gap_similarity: float = field(default=0.6, metadata={"low": 0.0, "high": 1.0})  # cosine joining a corpus gap
    gap_questions: int = field(default=2000, metadata={"low": 1})  # newest refused/thumbs-down questions grouped
    gap_examples: int = field(default=3, metadata={"low": 1})  # example questions shown per gap


@dataclass
class LearningSettings:
    """Feedback turned into training data, and the evaluation gate that promotes a retrained adapter."""

    # A correction is grounded on a passage holding at least this share of its content words (else left out).
    support_share: float = field(default=0.6, metadata={"low": 0.0, "high": 1.0})
    held_out_share: float = field(default=0.2, metadata={"low": 0.0, "high": 0.9})  # feedback kept for the gate
    gate_questions: str = ""  # JSONL question file for the gate; empty: the bundled held-out subset
    gate_limit: int = field(default=30, metadata={"low": 0})  # the first N gate questions (each adapter answers
    # them all, ~5 s each on a laptop CPU); 0: all
    gate_margin: float = field(default=0.02, metadata={"low": 0.0, "high": 1.0})  # worse by more: refused


@dataclass
class Settings:
    index: str = str(DEFAULT_INDEX)
    cache_dir: str = ""  # empty: the per-user cache directory
    threads: int = 0  # threads per running model (embedding, generation); 0: the thread policy decides
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    vectors: VectorSettings = field(default_factory=VectorSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    answering: AnsweringPolicy = field(default_factory=AnsweringPolicy)
    log: LogSettings = field(default_factory=LogSettings)
    learning: LearningSettings = field(default_factory=LearningSettings)

    @classmethod
    def load(
        cls,
        config: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> "Settings":
        """Build settings; `overrides` uses dotted keys such as ``"retrieval.k"``."""
        env = os.environ if env is None else env
        settings = cls()
        config = config or env.get("RAG_CONFIG")
        if config:
            settings._apply(_read_toml(Path(config)), origin=str(config))
        settings._apply(_from_env(env), origin="environment")
        settings._apply(_nest(overrides or {}), origin="command line")
        settings.validate()
        return settings

    def with_overrides(self, **dotted: Any) -> "Settings":
        """A copy with fields changed; nested fields as ``retrieval__k=8``."""
        changed = copy.deepcopy(self)
        changed._apply(_nest({k.replace("__", "."): v for k, v in dotted.items()}), origin="code")
        changed.validate()
        return changed

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def _apply(self, values: Mapping[str, Any], origin: str) -> None:
        _assign(self, values, origin, prefix="")

    def validate(self) -> None:
        """Every field within its bounds and the fields consistent with each other; else a one-line ConfigError."""
        _check_bounds(self, prefix="")
        gen, retrieval = self.generation, self.retrieval
        if gen.context_tokens <= gen.max_new_tokens:
            raise ConfigError(f"generation.context_tokens ({gen.context_tokens}) must be larger than "
                              f"generation.max_new_tokens ({gen.max_new_tokens}): the prompt needs room too")
        for name, k in (("retrieval.k", retrieval.k), ("generation.passages", gen.passages)):
            if not 1 <= k <= MAX_K:
                raise ConfigError(f"{name} must be between 1 and {MAX_K}, got {k}")
        if gen.rerank and gen.rerank_candidates < gen.passages:
            raise ConfigError(f"generation.rerank_candidates ({gen.rerank_candidates}) must be at least "
                              f"generation.passages ({gen.passages}): the reranker chooses the passages from them")
        if self.embedding.query_precision not in EMBEDDING_PRECISIONS:
            raise ConfigError(f"embedding.query_precision must be one of {', '.join(EMBEDDING_PRECISIONS)}, "
                              f"got {self.embedding.query_precision!r}")
        if self.ingest.engine not in ENGINES:
            raise ConfigError(f"ingest.engine must be one of {', '.join(ENGINES)}, got {self.ingest.engine!r}")
        if self.chunking.overlap_tokens >= self.chunking.max_tokens:
            raise ConfigError(f"chunking.overlap_tokens ({self.chunking.overlap_tokens}) must be smaller than "
                              f"chunking.max_tokens ({self.chunking.max_tokens})")
        if retrieval.fusion not in FUSIONS:
            raise ConfigError(f"retrieval.fusion must be one of {', '.join(FUSIONS)}, got {retrieval.fusion!r}")
        if not 0.0 <= retrieval.near_duplicate <= 1.0:
            raise ConfigError(f"retrieval.near_duplicate must be between 0 and 1, got {retrieval.near_duplicate}")
        for name, value in (("generation.max_new_tokens", gen.max_new_tokens), ("retrieval.candidates",
                            retrieval.candidates), ("chunking.max_tokens", self.chunking.max_tokens)):
            if value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
        if self.vectors.storage not in VECTOR_STORAGE:
            raise ConfigError(f"vectors.storage must be one of {', '.join(VECTOR_STORAGE)}, "
                              f"got {self.vectors.storage!r}")
        if gen.repetition_penalty <= 0:
            raise ConfigError(f"generation.repetition_penalty must be above 0 (1 is no penalty), "
                              f"got {gen.repetition_penalty}")
        if self.log.path and Path(self.index).resolve() in Path(self.log.path).resolve().parents:
            raise ConfigError(f"log.path ({self.log.path}) is inside the index {self.index}; put the log "
                              "elsewhere (or leave log.path empty for the per-user data folder)")


def _check_bounds(section: Any, prefix: str) -> None:
    """The bounds and patterns declared in field metadata (the answering policy declares them)."""
    for f in dataclasses.fields(section):
        value, name = getattr(section, f.name), f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            _check_bounds(value, f"{name}.")
            continue
        low, high = f.metadata.get("low"), f.metadata.get("high")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ConfigError(f"{name} must be {bounds}, got {value}")
        if f.metadata.get("pattern"):
            try:
                re.compile(value)
            except re.error as exc:
                raise ConfigError(f"{name} is not a valid regular expression ({exc}); fix the pattern") from None


def _assign(target: Any, values: Mapping[str, Any], origin: str, prefix: str) -> Any:
    """`target` with `values` set: changed in place, or replaced when it is frozen (the answering policy)."""
    fields = {f.name: f for f in dataclasses.fields(target)}
    changes = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if key not in fields:
            raise ConfigError(f"{origin}: unknown setting '{name}'; known: {', '.join(sorted(fields))}")
        current = getattr(target, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{origin}: '{name}' is a section; give it as [{name}] with fields")
            changes[key] = _assign(current, value, origin, prefix=f"{name}.")
        elif value is not None:
            changes[key] = _coerce(value, type(current), name, origin)
    if target.__dataclass_params__.frozen:
        return dataclasses.replace(target, **changes)
    for key, value in changes.items():
        setattr(target, key, value)
    return target


def _coerce(value: Any, kind: type, name: str, origin: str) -> Any:
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    if kind is tuple and isinstance(value, str):
        return tuple(value.split())  # a word list from the environment
    try:
        if kind is bool:
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(value)
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{origin}: '{name}' must be {kind.__name__}, got {value!r}") from None


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found; check the path given to --config or RAG_CONFIG") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _from_env(env: Mapping[str, str]) -> dict:
    dotted = {}
    for key, value in env.items():
        if key == "RAG_INDEX":
            dotted["index"] = value
        elif key == "RAG_API_KEY":
            dotted["server.api_key"] = value
        elif key.startswith("RAG_") and "__" in key:
            dotted[key[4:].lower().replace("__", ".")] = value
    return _nest(dotted)


def _nest(dotted: Mapping[str, Any]) -> dict:
    nested: dict = {}
    for key, value in dotted.items():
        parts = key.split(".")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested
