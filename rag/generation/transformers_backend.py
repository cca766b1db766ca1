"""The transformers backend: float32 weights with the PEFT adapter applied on the fly.

The exact reference every faster runtime is checked against, and the only backend that
trains. Decoding reads all 538 MB of SmolLM2's float32 weights once per token.
"""
from __future__ import annotations

import contextlib
import threading
import warnings
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Iterator

from .. import cancellation, offline
from ..threads import threads_per_model
from .chat import ChatGenerator, end_of_turn_ids
from .models import bundled_generator_model, resolve_model


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


class _StopWhenSet:
    """A stopping criterion for generate(): true, for every sequence, once any of the flags is set."""

    def __init__(self, *flags: threading.Event | None):
        self.flags = [f for f in flags if f is not None]

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        stop = any(flag.is_set() for flag in self.flags)
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


class TransformersGenerator(ChatGenerator):
    """Greedy, streaming chat generation with the model's own end-of-turn stop and a token bound."""

    backend = "transformers"

    def __init__(self, model: str | Path = "", cache_dir: str | Path = "", adapter: str | Path = "",
                 threads: int = 0, max_new_tokens: int = 160):
        super().__init__(str(model) if model else str(bundled_generator_model()), str(adapter) if adapter else "",
                         max_new_tokens)
        self.folder = resolve_model(model, cache_dir)
        self.threads = threads_per_model(threads)

    @property
    def tokenizer(self):
        return _load(str(self.folder), self.adapter, self.threads)[0]

    @property
    def model(self):
        return _load(str(self.folder), self.adapter, self.threads)[1]

    @property
    def context_window(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", 2048))

    @cached_property
    def stop_ids(self) -> list[int]:
        return end_of_turn_ids(self.tokenizer, self.folder)

    def _pieces(self, prompt_ids: list[int], max_new_tokens: int, static: int = 0) -> Iterator[str]:
        import torch
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        abandoned = cancellation.current()  # set by the server when the client is gone
        tokenizer, model, stop_ids = self.tokenizer, self.model, self.stop_ids
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        errors: list[BaseException] = []
        closed = threading.Event()  # this generator was closed (GeneratorExit below): stop at the next token
        stop = StoppingCriteriaList([_StopWhenSet(closed, abandoned)])

        def run() -> None:
            try:
                with torch.inference_mode():
                    model.generate(input_ids=torch.tensor([prompt_ids]), streamer=streamer, do_sample=False,
                                   num_beams=1, max_new_tokens=max_new_tokens, eos_token_id=stop_ids,
                                   pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None
                                   else stop_ids[0], repetition_penalty=self.repetition_penalty,
                                   stopping_criteria=stop)
            except BaseException as exc:  # surfaced in the caller's thread below
                errors.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        try:
            yield from streamer
        finally:  # the caller's lock stays held until generate() has really stopped
            closed.set()
            worker.join()
        if errors:
            raise errors[0]

    def _mean_log_probs(self, heads: list[list[int]], tail: list[int]) -> list[float]:
        import torch

        tokenizer, model = self.tokenizer, self.model
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
