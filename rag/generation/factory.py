"""A generator by backend name, falling back to the exact transformers backend when a faster one fails."""
from __future__ import annotations

import logging
from pathlib import Path

from ..errors import ConfigError, ModelNotFoundError
from .chat import ChatGenerator

BACKENDS = ("transformers", "ctranslate2")
log = logging.getLogger("rag.generation")


def create_generator(backend: str, model: str | Path = "", cache_dir: str | Path = "", adapter: str | Path = "",
                     threads: int = 0, max_new_tokens: int = 160, scoring: bool = True) -> ChatGenerator:
    """The named backend's generator. A fast backend that cannot start (runtime missing, conversion
    failing) logs one line saying why and answers with transformers; a missing model is the user's
    to fix and raises, whatever the backend. `scoring`: passages will be reranked, so the scoring
    weights are prepared now too (else on first use)."""
    from .transformers_backend import TransformersGenerator

    if backend not in BACKENDS:
        raise ConfigError(f"generation.backend is {backend!r}; choose one of: {', '.join(BACKENDS)}")
    if backend == "ctranslate2":
        try:
            from .ctranslate2_backend import CTranslate2Generator

            return CTranslate2Generator(model, cache_dir, adapter, threads, max_new_tokens, scoring=scoring)
        except ModelNotFoundError:
            raise
        except Exception as exc:  # any runtime or conversion failure: the exact backend still answers
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            hint = "; install it with: pip install ctranslate2" if isinstance(exc, ImportError) else ""
            log.warning("generation.backend 'ctranslate2' unavailable (%s%s); answering with 'transformers'",
                        reason, hint)
    return TransformersGenerator(model, cache_dir, adapter, threads, max_new_tokens)


def generator_from_settings(settings) -> ChatGenerator:
    """The generator `settings.generation` describes, with `settings.threads` per model."""
    gen = settings.generation
    generator = create_generator(gen.backend, gen.model, settings.cache_dir, gen.adapter,
                                 settings.threads, gen.max_new_tokens, scoring=gen.rerank)
    generator.repetition_penalty = gen.repetition_penalty
    return generator
