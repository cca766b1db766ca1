"""What the interaction log adds to a warm `ask`, measured side by side in one process.

The bundled index and real models answer the same questions three ways, in rotating order per question and
round so drift in machine load falls on every variant alike:
- "before": the answering pipeline alone (`kb.answerer.ask`, what `KnowledgeBase.ask` was before the log);
- "log off": `KnowledgeBase.ask` with the log off (stage timing, no write);
- "log on": `KnowledgeBase.ask` writing each answer to a fresh SQLite log (WAL) in a temporary folder.
Reported: the median over questions of each variant's paired ratio, and the log write alone (`record`, timed
in a loop) as a share of the median warm ask. Run: python bench/logging_overhead.py [--rounds 3]; with
--refusals N, only N pairs of the cheapest ask (a refusal), log on and off.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, write_results

sys.path.insert(0, str(ROOT))

import rag  # noqa: E402
from rag.interactions import InteractionLog  # noqa: E402
from rag.settings import LogSettings, Settings  # noqa: E402

# Our own questions on the bundled corpus (not evaluation questions), one the documents don't answer.
QUESTIONS = ["When can I stop paying PMI?", "What do closing costs usually add up to?",
             "What does a home inspector look at?", "How big a cushion can the escrow account keep?",
             "What happens if my rate lock expires?", "Who won the 1998 World Cup?"]


def refusals(pairs: int) -> None:
    """The cheapest warm ask, a refusal (no generation: ~20 ms), log on and off alternating: the worst case
    for the log's share, precise because there are many pairs."""
    with tempfile.TemporaryDirectory() as folder:
        log = InteractionLog(Path(folder) / "log.sqlite3", LogSettings())
        kb = rag.open(settings=Settings.load(overrides={"log.enabled": False}))
        question = QUESTIONS[-1]
        seconds: dict[str, list[float]] = {"log off": [], "log on": []}
        for number in range(pairs + 5):
            for name in (("log off", "log on") if number % 2 else ("log on", "log off")):
                kb.log = log if name == "log on" else None
                started = time.perf_counter()
                answer = kb.ask(question)
                if number >= 5:  # the first few warm up
                    seconds[name].append(time.perf_counter() - started)
        assert answer.refused
    median = {name: statistics.median(s) for name, s in seconds.items()}
    results = {"question": question, "pairs": pairs,
               "median_ask_ms": {k: round(v * 1000, 3) for k, v in median.items()},
               "ratio_log_on_vs_log_off": round(median["log on"] / median["log off"], 4),
               "added_ms": round((median["log on"] - median["log off"]) * 1000, 3)}
    print(results)
    write_results("logging_overhead_refusals", results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--refusals", type=int, default=0, help="Only the refusal measurement, with N pairs.")
    args = parser.parse_args()
    if args.refusals:
        refusals(args.refusals)
        return
    with tempfile.TemporaryDirectory() as folder:
        log = InteractionLog(Path(folder) / "log.sqlite3", LogSettings())
        kb = rag.open(settings=Settings.load(overrides={"log.enabled": False}))
        variants = {"before": lambda q: kb.answerer.ask(q), "log off": lambda q: kb.ask(q), "log on": None}

        def logged(question: str):
            kb.log = log
            try:
                return kb.ask(question)
            finally:
                kb.log = None

        variants["log on"] = logged
        for question in QUESTIONS:  # warm: models loaded, caches filled, every code path run once
            logged(question)
        seconds: dict[str, dict[str, list[float]]] = {name: {q: [] for q in QUESTIONS} for name in variants}
        names = list(variants)
        for round_number in range(args.rounds):
            for number, question in enumerate(QUESTIONS):
                shift = (round_number + number) % len(names)
                for name in names[shift:] + names[:shift]:
                    started = time.perf_counter()
                    variants[name](question)
                    seconds[name][question].append(time.perf_counter() - started)
        answer = kb.ask(QUESTIONS[0])
        started = time.perf_counter()
        writes = 300
        for _ in range(writes):
            log.record(answer, channel="bench", stages={"retrieval": 0.05, "first_piece": 1.0, "total": 3.0},
                       index_version="v", adapter_hash="0123456789abcdef")
        record_ms = (time.perf_counter() - started) / writes * 1000
    median = {name: {q: statistics.median(s) for q, s in per.items()} for name, per in seconds.items()}

    def ratio(a: str, b: str) -> float:
        return round(statistics.median(median[a][q] / median[b][q] for q in QUESTIONS), 4)

    typical_ask_ms = statistics.median(median["log off"].values()) * 1000
    results = {
        "questions": len(QUESTIONS), "rounds": args.rounds,
        "median_ask_s": {name: round(statistics.median(per.values()), 3) for name, per in median.items()},
        "ratio_log_on_vs_before": ratio("log on", "before"),
        "ratio_log_on_vs_log_off": ratio("log on", "log off"),
        "ratio_log_off_vs_before": ratio("log off", "before"),
        "record_ms": round(record_ms, 3),
        "record_share_of_median_ask": round(record_ms / typical_ask_ms, 5),
        "per_question_s": {name: {q: round(s, 3) for q, s in per.items()} for name, per in median.items()},
        "note": "ratios are medians over questions of paired per-question medians; 2 cores shared with other jobs",
    }
    print(results)
    write_results("logging_overhead", results)


if __name__ == "__main__":
    main()
