"""One typed settings object: defaults, then a TOML file, then environment, then flags.

Environment variables are read here and nowhere else:
``RAG_CONFIG`` names a TOML file, ``RAG_INDEX`` the index directory, ``RAG_API_KEY``
the HTTP server's key, and
``RAG_<SECTION>__<FIELD>`` (e.g. ``RAG_RETRIEVAL__K=8``) any other field.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INDEX = PROJECT_ROOT / "indexes" / "homeowner"
BUNDLED_ADAPTER = PROJECT_ROOT / "adapters" / "homeowner"


def _bundled_adapter() -> str:
    return str(BUNDLED_ADAPTER) if (BUNDLED_ADAPTER / "adapter_config.json").is_file() else ""


@dataclass
class EmbeddingSettings:
    model: str = ""  # a sentence-transformers folder; empty means the bundled MiniLM
    batch_size: int = 32
    threads: int = 0  # 0: every core


@dataclass
class ChunkingSettings:
    max_tokens: int = 200  # embedder word pieces per chunk, heading prefix included
    overlap_tokens: int = 40


@dataclass
class IngestSettings:
    max_file_mb: float = 50.0


@dataclass
class RetrievalSettings:
    k: int = 5
    hybrid: bool = True
    candidates: int = 50
    rrf_k: int = 60
    lexical_weight: float = 1.0
    near_duplicate: float = 0.97  # cosine above which a lower hit is dropped as a repeat


@dataclass
class GenerationSettings:
    model: str = ""  # a causal-LM folder or a .gguf file; empty means bundled SmolLM2
    adapter: str = field(default_factory=_bundled_adapter)  # a PEFT LoRA folder; "" for the base model
    max_new_tokens: int = 160
    context_tokens: int = 2048  # prompt plus answer; bounded by the model's own window too
    passages: int = 4  # retrieved passages offered to the model
    rerank: bool = True  # choose them by how well each predicts the question (the generator scores)
    rerank_candidates: int = 8  # retrieved passages the reranker chooses them from
    evidence_model: str = ""  # calibrated refusal model (JSON); empty means the bundled one
    system_prompt: str = ""  # empty means the built-in instruction
    passage_template: str = ""  # fields: {n} {source_line} {text}
    user_template: str = ""  # fields: {passages} {question}


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


@dataclass
class Settings:
    index: str = str(DEFAULT_INDEX)
    cache_dir: str = ""  # empty: the per-user cache directory
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    server: ServerSettings = field(default_factory=ServerSettings)

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
        return settings

    def with_overrides(self, **dotted: Any) -> "Settings":
        """A copy with fields changed; nested fields as ``retrieval__k=8``."""
        changed = copy.deepcopy(self)
        changed._apply(_nest({k.replace("__", "."): v for k, v in dotted.items()}), origin="code")
        return changed

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def _apply(self, values: Mapping[str, Any], origin: str) -> None:
        _assign(self, values, origin, prefix="")


def _assign(target: Any, values: Mapping[str, Any], origin: str, prefix: str) -> None:
    fields = {f.name: f for f in dataclasses.fields(target)}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if key not in fields:
            raise ConfigError(f"{origin}: unknown setting '{name}'; known: {', '.join(sorted(fields))}")
        current = getattr(target, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{origin}: '{name}' is a section; give it as [{name}] with fields")
            _assign(current, value, origin, prefix=f"{name}.")
        elif value is not None:
            setattr(target, key, _coerce(value, type(current), name, origin))


def _coerce(value: Any, kind: type, name: str, origin: str) -> Any:
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
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
