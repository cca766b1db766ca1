"""Generation speed, every backend side by side: load, time to first token, decode tokens/s against
the memory-bandwidth bound, cold and warm `ask`, and peak memory.

Each (round, variant) runs in a fresh process, rounds interleaved (A B C A B C …) so a machine
whose speed drifts moves every variant alike; medians are reported, and ratios to the
transformers backend. Decoding reads every weight once per token, so
tokens/s <= memory bandwidth / weight bytes: that bound is reported for each format.
Run: python bench/generation_speed.py [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

from common import ROOT, write_results

QUESTIONS = ["How much do I need for a down payment?", "When can I cancel PMI?",
             "What is an escrow account?", "How do I appeal my property tax assessment?",
             "What happens if I miss a mortgage payment?"]
DECODE_QUESTION = "What does an escrow account pay for?"
DECODE_TOKENS = 128
VARIANTS = {"transformers": ("transformers", 1), "ctranslate2": ("ctranslate2", 1),
            "ctranslate2-2threads": ("ctranslate2", 2)}


def worker(backend: str, threads: int) -> dict:
    """One fresh process: import and open, a first (cold) ask, then decode and warm asks."""
    started = time.perf_counter()
    import resource

    import rag
    from rag.generation import generator_from_settings
    from rag.prompting import build_prompt

    settings = rag.Settings.load(env={}).with_overrides(generation__backend=backend, threads=threads)
    kb = rag.open(ROOT / "indexes" / "homeowner", settings)
    loading = time.perf_counter()
    generator = generator_from_settings(settings)
    _ = generator.tokenizer, (generator.runtime if backend == "ctranslate2" else generator.model)
    load = time.perf_counter() - loading
    kb.answerer.generator = generator  # until knowledge_base.py builds through generator_from_settings
    kb.ask(QUESTIONS[0])
    cold = time.perf_counter() - started

    hits = kb.search(DECODE_QUESTION, settings.generation.passages)
    prompt = build_prompt(DECODE_QUESTION, hits, generator.render, generator.count_tokens, 1888)
    piece_started = time.perf_counter()
    text, first = "", None
    for piece in generator.stream(prompt.messages, DECODE_TOKENS):
        first = first or time.perf_counter() - piece_started
        text += piece
    total = time.perf_counter() - piece_started
    tokens = generator.count_tokens(text)

    warm = []
    for question in QUESTIONS:
        asked = time.perf_counter()
        kb.ask(question)
        warm.append(time.perf_counter() - asked)
    if backend == "ctranslate2":
        weight_bytes = (generator.folder / "model.bin").stat().st_size
    else:
        weight_bytes = sum(p.numel() * p.element_size() for p in generator.model.parameters())
    return {"backend": generator.backend, "threads": threads, "load_s": load, "ask_cold_s": cold,
            "prompt_tokens": generator.count_tokens(generator.render(prompt.messages)),
            "time_to_first_token_s": first, "decode_tokens": tokens,
            "decode_tokens_per_s": (tokens - 1) / (total - first), "ask_warm_median_s": float(np.median(warm)),
            "weight_mb": weight_bytes / 1e6, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "answers": 1 + len(QUESTIONS)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", nargs=2, metavar=("BACKEND", "THREADS"))
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]))))
        return
    from search_latency import bandwidth_gbps

    runs: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    for round_ in range(args.rounds):
        for name, (backend, threads) in VARIANTS.items():
            done = subprocess.run([sys.executable, __file__, "--worker", backend, str(threads)],
                                  capture_output=True, text=True, cwd=ROOT / "bench")
            if done.returncode:
                raise SystemExit(f"{name} failed:\n{done.stderr[-2000:]}")
            runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"round {round_ + 1} {name}: {runs[name][-1]}", flush=True)
    gbps = bandwidth_gbps()
    keys = ["load_s", "ask_cold_s", "time_to_first_token_s", "decode_tokens_per_s", "ask_warm_median_s",
            "peak_rss_mb"]
    variants = {}
    for name, measured in runs.items():
        row = {key: round(float(np.median([m[key] for m in measured])), 2) for key in keys}
        row["ask_warm_median_s"] = round(float(np.median([m["ask_warm_median_s"] for m in measured])), 2)
        row.update(backend=measured[0]["backend"], threads=measured[0]["threads"],
                   weight_mb=round(measured[0]["weight_mb"], 1),
                   bound_tokens_per_s=round(gbps * 1e9 / (measured[0]["weight_mb"] * 1e6), 1),
                   prompt_tokens=measured[0]["prompt_tokens"])
        row["share_of_bound"] = round(row["decode_tokens_per_s"] / row["bound_tokens_per_s"], 3)
        variants[name] = row
    reference = variants["transformers"]
    for row in variants.values():
        row["vs_transformers"] = {key: round(row[key] / reference[key], 2) for key in
                                  ("load_s", "ask_cold_s", "decode_tokens_per_s", "ask_warm_median_s", "peak_rss_mb")}
    results = {"how": f"{args.rounds} interleaved rounds, each variant in a fresh process; medians. ask_cold_s: "
                      "from the process's first line to the first answer (imports, index, models, cached "
                      f"conversions); decode: {DECODE_TOKENS} greedy tokens after a RAG prompt; warm: median "
                      f"of {len(QUESTIONS)} questions; peak RSS after {1 + len(QUESTIONS)} answers. "
                      "Adapter: the bundled one (merged into the int8 weights for ctranslate2).",
               "bandwidth_gb_per_s": round(gbps, 2), "variants": variants, "rounds": runs}
    print(json.dumps(variants, indent=2))
    write_results("generation", results)


if __name__ == "__main__":
    main()
