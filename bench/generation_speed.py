"""Generation speed: time to first token, tokens/s, and `ask` latency cold and warm.

The bound for fp32 decoding on CPU: every generated token reads all weights once,
so tokens/s <= memory bandwidth / weight bytes. Run: python bench/generation_speed.py
"""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

from common import ROOT, write_results
from search_latency import bandwidth_gbps

QUESTIONS = ["How much do I need for a down payment?", "When can I cancel PMI?",
             "What is an escrow account?", "How do I appeal my property tax assessment?",
             "What happens if I miss a mortgage payment?"]
COLD = """
import time, rag
started = time.perf_counter()
kb = rag.open(r"{index}")
kb.ask("How much do I need for a down payment?")
print(time.perf_counter() - started)
"""


def main() -> None:
    import rag

    index = ROOT / "indexes" / "homeowner"
    cold = float(subprocess.run([sys.executable, "-c", COLD.format(index=index)], capture_output=True, text=True,
                                check=True).stdout.strip().splitlines()[-1])
    kb = rag.open(index)
    generator = kb.answerer.generator
    weight_bytes = sum(p.numel() * p.element_size() for p in generator.model.parameters())
    messages = [{"role": "user", "content": "Explain in a few sentences what a mortgage escrow account is."}]
    first_token, rates = [], []
    for _ in range(3):
        started = time.perf_counter()
        text, first = "", None
        for piece in generator.stream(messages, 96):  # pieces are words, not tokens: count tokens after
            first = first or time.perf_counter() - started
            text += piece
        total = time.perf_counter() - started
        tokens = generator.count_tokens(text)
        first_token.append(first)
        rates.append((tokens - 1) / (total - first))
    warm = []
    for question in QUESTIONS:
        started = time.perf_counter()
        kb.ask(question)
        warm.append(time.perf_counter() - started)
    gbps = bandwidth_gbps()
    results = {
        "model": generator.source, "weight_mb": round(weight_bytes / 1e6, 1),
        "time_to_first_token_ms": round(float(np.median(first_token)) * 1000, 1),
        "decode_tokens_per_s": round(float(np.median(rates)), 2),
        "bandwidth_gb_per_s": round(gbps, 2),
        "bound_tokens_per_s": round(gbps * 1e9 / weight_bytes, 1),
        "ask_cold_s": round(cold, 2), "ask_warm_median_s": round(float(np.median(warm)), 2),
        "ask_warm_max_s": round(float(max(warm)), 2),
    }
    results["share_of_bound"] = round(results["decode_tokens_per_s"] / results["bound_tokens_per_s"], 3)
    print(results)
    write_results("generation", results)


if __name__ == "__main__":
    main()
