"""Generation speed, every backend side by side: load, time to first token, decode tokens/s against
the memory-bandwidth bound, cold and warm `ask`, the server's answers per minute at 1 and 2
concurrent answers, and peak memory (of the benchmark's process, and of `rag serve` after 20 answers).

Each (round, variant) runs in a fresh process, rounds interleaved (A B C A B C …) so a machine
whose speed drifts moves every variant alike; medians are reported, and ratios to the
transformers backend. Decoding reads every weight once per token, so
tokens/s <= memory bandwidth / weight bytes: that bound is reported for each format.
The cold `rag ask` is the real command in a new process (models and conversions cached).
The server part starts `rag serve` per (backend, concurrency), asks one question to warm it, then
20 different bundled questions from that many client threads; answers/minute is over those 20, and
the peak RSS is the kernel's high-water mark (VmHWM) of the server's processes after them.
Run: python bench/generation_speed.py [--rounds 3] [--server-rounds 1] [--server-backends ctranslate2]
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from common import ROOT, write_results

QUESTIONS = ["How much do I need for a down payment?", "When can I cancel PMI?",
             "What is an escrow account?", "How do I appeal my property tax assessment?",
             "What happens if I miss a mortgage payment?"]
DECODE_QUESTION = "What does an escrow account pay for?"
DECODE_TOKENS = 128
# name: (backend, threads, settings changed from the defaults). "transformers" is the reference the issue measures
# against: today's backend as it answered before int8, reranking 8 candidates with the generator.
TODAY = {"generation.rerank": True, "generation.rerank_candidates": 8}
# "ctranslate2" is the default as a user gets it: threads 0, so the count timed on this machine at conversion.
VARIANTS = {"transformers": ("transformers", 1, TODAY), "ctranslate2": ("ctranslate2", 0, {}),
            "ctranslate2-1thread": ("ctranslate2", 1, {}), "ctranslate2-2threads": ("ctranslate2", 2, {})}
SERVER_ANSWERS = 20
CONCURRENCIES = (1, 2)


def worker(backend: str, threads: int, overrides: dict) -> dict:
    """One fresh process: import and open, a first (cold) ask, then decode and warm asks."""
    started = time.perf_counter()
    import resource

    import rag
    from rag.generation import generator_from_settings
    from rag.prompting import build_prompt

    settings = rag.Settings.load(env={}).with_overrides(generation__backend=backend, threads=threads,
                                                         log__enabled=False,  # answers timed, not the log
                                                         **{k.replace(".", "__"): v for k, v in overrides.items()})
    kb = rag.open(ROOT / "indexes" / "homeowner", settings)
    loading = time.perf_counter()
    generator = generator_from_settings(settings)
    _ = generator.tokenizer, (generator.runtime if generator.backend == "ctranslate2" else generator.model)
    load = time.perf_counter() - loading
    kb.answerer.generator = generator  # the one just timed (the knowledge base would build its own)
    kb.ask(QUESTIONS[0])
    cold = time.perf_counter() - started

    hits = kb.search(DECODE_QUESTION, settings.generation.passages)
    prompt = build_prompt(DECODE_QUESTION, hits, generator.render, generator.count_tokens, 1888)
    prompt_ids = generator.prompt_ids(prompt.messages)
    first, total = forced_decode(generator, prompt_ids, DECODE_TOKENS)

    warm = []
    for question in QUESTIONS:
        asked = time.perf_counter()
        kb.ask(question)
        warm.append(time.perf_counter() - asked)
    if generator.backend == "ctranslate2":  # the one answering (a failed conversion falls back to transformers)
        weight_bytes = (generator.folder / "model.bin").stat().st_size
    else:
        weight_bytes = sum(p.numel() * p.element_size() for p in generator.model.parameters())
    return {"backend": generator.backend, "threads": generator.threads, "load_s": load, "ask_cold_s": cold,
            "prompt_tokens": len(prompt_ids),
            "time_to_first_token_s": first, "decode_tokens": DECODE_TOKENS,
            "decode_tokens_per_s": (DECODE_TOKENS - 1) / (total - first), "ask_warm_median_s": float(np.median(warm)),
            "weight_mb": weight_bytes / 1e6, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "answers": 1 + len(QUESTIONS), "imports_torch": "torch" in sys.modules}


def forced_decode(generator, prompt_ids: list[int], n: int) -> tuple[float, float]:
    """Seconds to the first token and to the n-th, generating exactly n greedy tokens (end of turn suppressed
    by a minimum length) on the backend's own runtime: a RAG answer usually ends after 15-30 tokens, too few
    to time decoding by. The whole prompt is read (no cached system turn), as a first answer reads it."""
    times: list[float] = []
    started = time.perf_counter()
    if generator.backend == "ctranslate2":
        tokens = generator.tokenizer.convert_ids_to_tokens(prompt_ids)
        for _ in generator.runtime.generate_tokens(tokens, max_length=n, min_length=n, sampling_topk=1):
            times.append(time.perf_counter() - started)
    else:
        import torch
        from transformers.generation.streamers import BaseStreamer

        class Clock(BaseStreamer):
            def put(self, value):  # called with the prompt first, then with each new token
                times.append(time.perf_counter() - started)

            def end(self):
                pass

        with torch.inference_mode():
            generator.model.generate(input_ids=torch.tensor([prompt_ids]), do_sample=False, num_beams=1,
                                     max_new_tokens=n, min_new_tokens=n, streamer=Clock(),
                                     pad_token_id=generator.stop_ids[0])
        times = times[1:]  # the prompt's own put
    if len(times) != n:
        raise SystemExit(f"{generator.backend}: {len(times)} tokens decoded, {n} asked")
    return times[0], times[-1]


def _env(backend: str, threads: int = 0, concurrency: int = 0, overrides: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    for key, value in (overrides or {}).items():
        env["RAG_" + key.upper().replace(".", "__")] = str(value).lower()
    env["RAG_GENERATION__BACKEND"] = backend
    env["RAG_LOG__ENABLED"] = "false"  # timing answers, not the interaction log (nor a stale log's schema)
    if threads:
        env["RAG_THREADS"] = str(threads)
    if concurrency:
        env["RAG_SERVER__CONCURRENCY"] = str(concurrency)
    return env


def cli_ask_cold(backend: str, threads: int, overrides: dict) -> float:
    """Seconds of `rag ask` in a new process, from its start to its exit."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cli.main", "ask", QUESTIONS[1]], cwd=ROOT,
                          env=_env(backend, threads, overrides=overrides),
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"rag ask ({backend}) failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree(pid: int) -> list[int]:
    """The process and its descendants (a server with replicas answers in child processes)."""
    found, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        for child in Path("/proc").glob("[0-9]*"):
            try:
                if int((child / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(child.name))
                    frontier.append(int(child.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def server_questions() -> list[str]:
    rows = [json.loads(line) for line in (ROOT / "corpora" / "homeowner-questions.jsonl").read_text().splitlines()
            if line.strip()]
    return [r["question"] for r in rows if r.get("answers")][:SERVER_ANSWERS]


def server_run(backend: str, concurrency: int) -> dict:
    """`rag serve` with this backend and concurrency: answers/minute over 20 questions from `concurrency`
    clients at once, and the server's peak RSS (VmHWM) after them."""
    import httpx

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port)], cwd=ROOT,
                              env=_env(backend, concurrency=concurrency), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 600
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit(f"rag serve did not start: {server.stderr.read()[-2000:]}")
            time.sleep(0.5)

        def ask(question: str) -> int:
            body = {"model": "rag", "messages": [{"role": "user", "content": question}]}
            return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=1800).status_code

        statuses = [ask(QUESTIONS[0])]  # loads the models
        questions: queue.Queue = queue.Queue()
        for question in server_questions():
            questions.put(question)

        def client() -> None:
            while True:
                try:
                    question = questions.get_nowait()
                except queue.Empty:
                    return
                statuses.append(ask(question))

        started = time.perf_counter()
        clients = [threading.Thread(target=client) for _ in range(concurrency)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        elapsed = time.perf_counter() - started
        pids = _tree(server.pid)
        hwm = {pid: _vm_hwm_mb(pid) for pid in pids}
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
    answered = len(statuses) - 1
    return {"backend": backend, "concurrency": concurrency, "answers": answered,
            "answers_per_minute": answered / elapsed * 60, "seconds": elapsed,
            "non_200": sum(1 for s in statuses if s != 200), "peak_rss_mb": hwm[server.pid],
            "peak_rss_all_processes_mb": sum(hwm.values()), "processes": len(pids)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server-rounds", type=int, default=1)
    parser.add_argument("--server-backends", default="ctranslate2",
                        help="comma-separated backends to serve (transformers takes many minutes per 20 answers)")
    parser.add_argument("--worker", nargs=3, metavar=("BACKEND", "THREADS", "OVERRIDES_JSON"))
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), json.loads(args.worker[2]))))
        return
    from search_latency import bandwidth_gbps

    runs: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    for round_ in range(args.rounds):
        for name, (backend, threads, overrides) in VARIANTS.items():
            done = subprocess.run([sys.executable, __file__, "--worker", backend, str(threads), json.dumps(overrides)],
                                  capture_output=True, text=True, cwd=ROOT / "bench")
            if done.returncode:
                raise SystemExit(f"{name} failed:\n{done.stderr[-2000:]}")
            measured = json.loads(done.stdout.strip().splitlines()[-1])
            measured["cli_ask_cold_s"] = cli_ask_cold(backend, threads, overrides)
            measured["settings"] = overrides
            runs[name].append(measured)
            print(f"round {round_ + 1} {name}: {measured}", flush=True)
    servers: dict[str, list[dict]] = {}
    for round_ in range(args.server_rounds):
        for backend in [b for b in args.server_backends.split(",") if b]:
            for concurrency in CONCURRENCIES:
                measured = server_run(backend, concurrency)
                servers.setdefault(f"{backend}-concurrency{concurrency}", []).append(measured)
                print(f"server round {round_ + 1}: {measured}", flush=True)
    gbps = bandwidth_gbps()
    keys = ["load_s", "ask_cold_s", "cli_ask_cold_s", "time_to_first_token_s", "decode_tokens_per_s",
            "ask_warm_median_s", "peak_rss_mb"]
    variants = {}
    for name, measured in runs.items():
        row = {key: round(float(np.median([m[key] for m in measured])), 2) for key in keys}
        row["ask_warm_median_s"] = round(float(np.median([m["ask_warm_median_s"] for m in measured])), 2)
        row.update(backend=measured[0]["backend"], threads=measured[0]["threads"],
                   weight_mb=round(measured[0]["weight_mb"], 1),
                   bound_tokens_per_s=round(gbps * 1e9 / (measured[0]["weight_mb"] * 1e6), 1),
                   prompt_tokens=measured[0]["prompt_tokens"])
        row["share_of_bound"] = round(row["decode_tokens_per_s"] / row["bound_tokens_per_s"], 3)
        row["imports_torch"] = any(m.get("imports_torch") for m in measured)
        variants[name] = row
    reference = variants["transformers"]
    for row in variants.values():
        row["vs_transformers"] = {key: round(row[key] / reference[key], 2) for key in
                                  ("load_s", "ask_cold_s", "cli_ask_cold_s", "decode_tokens_per_s",
                                   "ask_warm_median_s", "peak_rss_mb")}
    server = {name: {key: round(float(np.median([m[key] for m in measured])), 2)
                     for key in ("answers_per_minute", "seconds", "peak_rss_mb", "peak_rss_all_processes_mb")}
              | {"non_200": sum(m["non_200"] for m in measured), "answers": measured[0]["answers"]}
              for name, measured in servers.items()}
    results = {"how": f"{args.rounds} interleaved rounds, each variant in a fresh process; medians. ask_cold_s: "
                      "from the process's first line to the first answer (imports, index, models, cached "
                      f"conversions); decode: {DECODE_TOKENS} greedy tokens after a RAG prompt; warm: median "
                      f"of {len(QUESTIONS)} questions; peak RSS after {1 + len(QUESTIONS)} answers. "
                      "cli_ask_cold_s: `rag ask` in a new process, start to exit. Server: `rag serve` per "
                      f"(backend, concurrency), 1 warm-up answer then {SERVER_ANSWERS} from that many clients; "
                      "peak_rss_mb is the server process's VmHWM after them. "
                      "Adapter: the bundled one (merged into the int8 weights for ctranslate2). Settings: the "
                      f"defaults, except the transformers reference answers as before int8 ({TODAY}).",
               "bandwidth_gb_per_s": round(gbps, 2), "variants": variants, "server": server, "rounds": runs,
               "server_rounds": servers}
    print(json.dumps({"variants": variants, "server": server}, indent=2))
    write_results("generation", results)


if __name__ == "__main__":
    main()
