"""The CTranslate2 backend: int8 weights, the adapter merged in before conversion.

SmolLM2-135M in int8 is 136 MB against 538 MB in float32, and decoding reads all weights
once per token, so it decodes about twice as fast and loads in a fraction of a second.
The conversion runs once per (model, adapter) pair and is cached under the cache folder,
keyed by the hash of the GGUF file (or model folder) and of the adapter: a retrained
adapter converts again. Passage scoring for the reranker runs here too, on a base-weights
conversion (an adapter is tuned to answer, not to score), in one batch.
"""
from __future__ import annotations

import atexit
import json
import queue
import shutil
import sys
import threading
import time
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Callable, Iterator

from .. import cancellation, offline
from ..threads import chosen_threads, fastest, machine_signature, usable_cores
from .chat import ChatGenerator, IncrementalDecoder, end_of_turn_ids
from .models import bundled_generator_model, cache_root, content_hash, resolve_model, staged

QUANTIZATION = "int8"
_TOKENIZER = "tokenizer"  # subfolder: the model folder's own config.json is CTranslate2's, not transformers'
_CARD = "SOURCE.json"
_THREADS = "THREADS.json"  # the thread count timed on this machine (see measured_threads)
# The timing behind measured_threads: a prompt the length of a typical answering prompt, then a fixed number of
# greedy tokens, so both prompt reading and decoding count as they do in an answer (about 1.5 s a run at int8).
_TIMING_PROMPT_TOKENS = 512
_TIMING_NEW_TOKENS = 24


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def converted_model(model: str | Path, adapter: str | Path, cache_dir: str | Path = "",
                    progress: Callable[[str], None] = _say) -> Path:
    """The CTranslate2 folder for this model with this adapter merged, converting it on first use."""
    source = Path(model).expanduser() if model else bundled_generator_model()
    adapter_hash = content_hash(str(Path(adapter).expanduser()), cache_dir=cache_dir)[:16] if adapter else "base"
    name = f"{source.stem}-{content_hash(str(source), cache_dir=cache_dir)[:16]}-{adapter_hash}-{QUANTIZATION}"
    target = cache_root(cache_dir) / "ctranslate2" / name
    if (target / _CARD).is_file():
        return target
    folder = resolve_model(model, cache_dir)  # imports and de-quantises only on a first GGUF load
    progress(f"converting {source.name}{' with adapter ' + Path(adapter).name if adapter else ''} "
             f"to {QUANTIZATION} for CTranslate2 (once; about half a minute) …")
    offline.prepare()
    from ctranslate2.converters import TransformersConverter
    from transformers import AutoConfig, AutoTokenizer

    with staged(target) as staging:
        weights = folder
        if adapter:
            from ..tuning.merge import merge_adapter

            weights = merge_adapter(folder, Path(adapter).expanduser(), staging / ".merged")
        TransformersConverter(str(weights), low_cpu_mem_usage=True).convert(
            str(staging), quantization=QUANTIZATION, force=True)
        _fill_missing_specials(staging / "config.json")
        AutoTokenizer.from_pretrained(str(folder), local_files_only=True).save_pretrained(str(staging / _TOKENIZER))
        if (folder / "generation_config.json").is_file():
            shutil.copy2(folder / "generation_config.json", staging / _TOKENIZER / "generation_config.json")
        shutil.rmtree(staging / ".merged", ignore_errors=True)
        window = getattr(AutoConfig.from_pretrained(str(folder), local_files_only=True),
                         "max_position_embeddings", 2048)
        (staging / _CARD).write_text(json.dumps({
            "source": str(source), "source_sha256": content_hash(str(source), cache_dir=cache_dir),
            "adapter": str(adapter) if adapter else "",
            "adapter_sha256": content_hash(str(adapter), cache_dir=cache_dir) if adapter else "",
            "quantization": QUANTIZATION, "context_window": int(window)}, indent=2) + "\n")
    progress(f"converted: {target}")
    return target


def _fill_missing_specials(config: Path) -> None:
    """CTranslate2 refuses to load a config whose bos or unk token is null, and many chat tokenizers
    (Qwen's among them) have no bos token: the eos token stands in, as it does in their own prompts."""
    values = json.loads(config.read_text())
    for key in ("bos_token", "unk_token"):
        if values.get(key) is None:
            values[key] = values.get("eos_token")
    config.write_text(json.dumps(values, indent=2) + "\n")


def measured_threads(folder: Path, progress: Callable[[str], None] = _say) -> int:
    """The thread count that answers fastest with this converted model on this machine: 1 or every usable
    core, timed once (interleaved, best of two each) and remembered in the folder, keyed by the machine.
    One core, or a folder that cannot be written, still gets an answer; only the memory is lost."""
    cores = usable_cores()
    if cores == 1:
        return 1
    machine = machine_signature(cores)
    record_file = folder / _THREADS
    try:
        record = json.loads(record_file.read_text())
        if isinstance(record, dict) and record.get("machine") == machine and int(record["threads"]) > 0:
            return int(record["threads"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # never measured here, or a record we cannot read: measure
    import ctranslate2

    progress(f"timing generation at 1 and {cores} threads on this machine (once; a few seconds) …")
    tokenizer = _load_tokenizer(str(folder / _TOKENIZER))
    words = tokenizer("the escrow account pays property taxes and insurance ", add_special_tokens=False)["input_ids"]
    prompt = tokenizer.convert_ids_to_tokens(
        (words * (_TIMING_PROMPT_TOKENS // max(1, len(words)) + 1))[:_TIMING_PROMPT_TOKENS])  # only the time counts

    def seconds(threads: int) -> float:
        runtime = ctranslate2.Generator(str(folder), device="cpu", compute_type=QUANTIZATION,
                                        intra_threads=threads, inter_threads=1)
        started = time.perf_counter()
        runtime.generate_batch([prompt], max_length=_TIMING_NEW_TOKENS, min_length=_TIMING_NEW_TOKENS,
                               sampling_topk=1, include_prompt_in_result=False)
        return time.perf_counter() - started

    threads, timings = fastest([1, cores], seconds)
    progress(f"generation threads: {threads} ("
             + ", ".join(f"{n}: {t:.2f} s" for n, t in sorted(timings.items())) + ")")
    try:
        record_file.write_text(json.dumps({"machine": machine, "threads": threads,
                                           "seconds": {str(n): round(t, 3) for n, t in timings.items()},
                                           "prompt_tokens": _TIMING_PROMPT_TOKENS,
                                           "new_tokens": _TIMING_NEW_TOKENS}, indent=2) + "\n")
    except OSError:
        pass  # a read-only cache: measured again next time
    return threads


@lru_cache(maxsize=4)
def _load_model(folder: str, threads: int):
    import ctranslate2

    return ctranslate2.Generator(folder, device="cpu", compute_type=QUANTIZATION, intra_threads=threads,
                                 inter_threads=1)


# Free the models while the interpreter is whole: destroyed during its final teardown, beside torch's
# OpenMP runtime, CTranslate2 aborted the process in about half the runs ("terminate called without an
# active exception", exit status 134), after every answer had been printed.
atexit.register(_load_model.cache_clear)


@lru_cache(maxsize=4)
def _load_tokenizer(folder: str):
    """The `tokenizers`-only tokenizer when the folder allows it (no transformers, hence no torch, imported);
    transformers' own for a folder with a slow tokenizer only."""
    from .tokenizer import ChatTokenizer, loadable

    if loadable(folder):
        return ChatTokenizer(folder)
    offline.prepare()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder, local_files_only=True)


class CTranslate2Generator(ChatGenerator):
    """Greedy int8 generation and scoring. Construction converts (once) and checks that the
    runtime imports, so a missing or broken runtime is found before the first question."""

    backend = "ctranslate2"
    keeps_system_turn = True  # generate_batch(static_prompt=…) keeps the system turn's state: same tokens out
    # Candidates per forward pass inside the one scoring call: CTranslate2 computes the logits of every
    # position (49k words each), so 8 candidates of ~400 tokens at once peaked 1.25 GB above the models;
    # in twos, 0.35 GB, and no slower (measured: 34.9 s against 41.7 s on a loaded machine).
    scoring_batch = 2

    def __init__(self, model: str | Path = "", cache_dir: str | Path = "", adapter: str | Path = "",
                 threads: int = 0, max_new_tokens: int = 160, progress: Callable[[str], None] = _say,
                 scoring: bool = True):
        import ctranslate2  # noqa: F401  (fails here, where the factory can fall back, not mid-answer)

        super().__init__(str(model) if model else str(bundled_generator_model()), str(adapter) if adapter else "",
                         max_new_tokens)
        self.folder = converted_model(model, self.adapter, cache_dir, progress)
        self._conversion = (model, cache_dir, progress)
        self.threads = chosen_threads(threads) or measured_threads(self.folder, progress)
        self._card = json.loads((self.folder / _CARD).read_text())
        if scoring:  # answers will be reranked: convert now, so that a failure falls back here, not mid-answer
            _ = self.scoring_folder

    @property
    def tokenizer(self):
        return _load_tokenizer(str(self.folder / _TOKENIZER))

    @property
    def runtime(self):
        return _load_model(str(self.folder), self.threads)

    @cached_property
    def scoring_folder(self) -> Path:
        """The base weights the reranker scores with (the answering weights when no adapter is merged in);
        converted on first use when reranking is off."""
        model, cache_dir, progress = self._conversion
        return converted_model(model, "", cache_dir, progress) if self.adapter else self.folder

    @property
    def scoring_runtime(self):
        """The base-weights model the reranker scores with; loaded on first use."""
        return _load_model(str(self.scoring_folder), self.threads)

    @property
    def context_window(self) -> int:
        return int(self._card.get("context_window", 2048))

    @cached_property
    def stop_ids(self) -> list[int]:
        return end_of_turn_ids(self.tokenizer, self.folder / _TOKENIZER)

    def _pieces(self, prompt_ids: list[int], max_new_tokens: int, static: int = 0) -> Iterator[str]:
        abandoned = cancellation.current()  # set by the server when the client is gone
        tokenizer, runtime, stop_ids = self.tokenizer, self.runtime, self.stop_ids
        steps: queue.Queue = queue.Queue()
        closed = threading.Event()
        errors: list[BaseException] = []

        def on_step(step) -> bool:
            steps.put(step.token_id)
            return closed.is_set() or cancellation.requested(abandoned)  # True stops decoding: nobody reads

        def run() -> None:
            try:
                tokens = tokenizer.convert_ids_to_tokens(prompt_ids)
                runtime.generate_batch([tokens[static:]], static_prompt=tokens[:static] or None,
                                       max_length=max_new_tokens, beam_size=1, sampling_topk=1,
                                       repetition_penalty=self.repetition_penalty, end_token=stop_ids,
                                       include_prompt_in_result=False, callback=on_step)
            except BaseException as exc:  # surfaced in the caller's thread below
                errors.append(exc)
            finally:
                steps.put(None)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        decoder = IncrementalDecoder(tokenizer)
        try:
            while (token := steps.get()) is not None:
                if token in stop_ids:
                    continue  # the end-of-turn step itself is reported too; it is not text
                piece = decoder.add(token)
                if piece:
                    yield piece
            rest = decoder.flush()
            if rest:
                yield rest
        finally:
            closed.set()
            worker.join()
        if errors:
            raise errors[0]

    def _mean_log_probs(self, heads: list[list[int]], tail: list[int]) -> list[float]:
        to_tokens = self.tokenizer.convert_ids_to_tokens
        with self._lock:
            results = self.scoring_runtime.score_batch([to_tokens(h + tail) for h in heads], max_input_length=0,
                                                       max_batch_size=self.scoring_batch)
        # log_probs[i] is the log-probability of token i + 1 given the tokens before it.
        return [sum(r.log_probs[-len(tail):]) / len(tail) for r in results]
