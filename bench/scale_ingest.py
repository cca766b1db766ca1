"""Ingest throughput, local engine against the Ray engine with 1 and 2 worker processes, on one machine.

A synthetic corpus of N passages (markdown files, one passage per section, no two alike) is generated,
then ingested from scratch by each variant in a fresh process, the variants interleaved (their order
rotates every round), medians reported with the ratios to the local engine:

- local:     the local engine as `rag ingest` runs it (torch threads: every core, an ingest is the only job);
- local-1t:  the local engine with 1 torch thread: the same compute as one Ray worker, so
             (ray-1 − local-1t) / passages is the Ray engine's per-passage overhead;
- ray-1, ray-2: the Ray engine with 1 or 2 worker actors (1 CPU, 1 torch thread each) on a private
             2-node cluster on 127.0.0.1 (rag/engines/local_cluster.py; started once, stopped by PID).

The Ray engine's own cost per passage is also measured directly, where load cannot hide it: tasks of
`ingest.ray_batch_passages` passages sent to an actor that returns zero vectors of the model's width (the
same data both ways as an embedding task, no model) -> bench/results/scale_ingest_transport.json.

Each run's seconds are split into engine start (for Ray: joining the cluster and the actors loading the
model), per-file work, embedding and the rest (dedup and the index write on the driver).

Run: python bench/scale_ingest.py [--passages 20000 --rounds 2]   (--transport-only: the direct measurement)
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, write_results

WORDS = ("escrow mortgage lender appraisal inspection closing title insurance deed lien equity refinance rate "
         "principal interest payment balance borrower servicer forbearance default credit score debt income "
         "down cushion shortage surplus statement tax assessor county permit roof furnace foundation gutter "
         "warranty contractor estimate invoice deposit account transfer wire fraud notice letter deadline "
         "week month year annual monthly fixed adjustable cap margin index points fee charge waiver review "
         "homeowner buyer seller agent broker attorney notary survey boundary easement flood zone premium").split()
SECTIONS_PER_FILE = 100

CHILD = """
import json, os, sys, time
started = time.perf_counter()
import rag
from rag.embedding import embedder_from_settings
from rag.engines import open_engine
from rag.settings import Settings

corpus, index, engine_name, address, workers, threads = sys.argv[1:7]
settings = Settings.load(overrides={"ingest.ray_workers": int(workers), "ingest.ray_cpus_per_worker": 1,
                                    "threads": int(threads)})
stages = {}

class Timed:
    def __init__(self, engine):
        self.engine, self.embedder = engine, engine.embedder
    def _time(self, name, call, *args):
        began = time.perf_counter()
        try:
            return call(*args)
        finally:
            stages[name] = stages.get(name, 0.0) + time.perf_counter() - began
    def prepare_files(self, jobs):
        return self._time("files_s", self.engine.prepare_files, jobs)
    def embed(self, texts, progress=False):
        return self._time("embed_s", self.engine.embed, texts)
    def dimension(self):
        return self.engine.dimension()
    def close(self):
        self.engine.close()

began = time.perf_counter()
embedder = embedder_from_settings(settings, threads=os.cpu_count() or 1)  # as rag.ingest does
engine = Timed(open_engine(engine_name, settings, embedder, address or None))
stages["engine_start_s"] = time.perf_counter() - began
try:
    report = rag.ingest([corpus], index, settings, engine=engine)
finally:
    engine.close()
total = time.perf_counter() - started
stages["driver_rest_s"] = total - sum(stages.values())
print(json.dumps({"seconds": round(total, 2), "passages": report.chunks, "failed": len(report.failed),
                  **{k: round(v, 2) for k, v in stages.items()}}))
"""

VARIANTS = {  # name: (engine, Ray workers, torch threads; 0: the thread policy)
    "local": ("local", 0, 0),
    "local-1t": ("local", 0, 1),
    "ray-1": ("ray", 1, 1),
    "ray-2": ("ray", 2, 1),
}


def make_corpus(folder: Path, passages: int, seed: int = 20) -> None:
    """`passages` sections of ~80 words, `SECTIONS_PER_FILE` to a file; every sentence carries a serial
    number, so no two passages are alike (dedup keeps them all)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    for file_number in range(0, passages, SECTIONS_PER_FILE):
        lines = [f"# Synthetic guide {file_number // SECTIONS_PER_FILE}", ""]
        for section in range(file_number, min(passages, file_number + SECTIONS_PER_FILE)):
            lines += [f"## Topic {section}", ""]
            sentences = []
            for part in range(8):
                words = [rng.choice(WORDS) for _ in range(rng.randint(8, 12))]
                sentences.append(" ".join(words).capitalize() + f" ({section}.{part}).")
            lines += [" ".join(sentences), ""]
        (folder / f"guide-{file_number // SECTIONS_PER_FILE:05d}.md").write_text("\n".join(lines))


def run(variant: str, corpus: Path, address: str, env: dict) -> dict:
    engine, workers, threads = VARIANTS[variant]
    with tempfile.TemporaryDirectory() as index:
        done = subprocess.run([sys.executable, "-c", CHILD, str(corpus), index, engine, address, str(workers),
                               str(threads)], capture_output=True, text=True, cwd="/", env=env)
    if done.returncode != 0:
        raise SystemExit(f"{variant} failed: {done.stderr[-1500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def transport(address: str, tasks: int = 40, per_task: int = 256, dimension: int = 384) -> dict:
    """Wall and driver-CPU milliseconds per passage for a round trip through a Ray actor, no model."""
    import numpy as np
    import ray

    ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    try:
        @ray.remote(num_cpus=1)
        class NullEmbedder:
            def embed(self, start, texts):
                return start, np.zeros((len(texts), dimension), np.float32)

        actor = NullEmbedder.remote()
        texts = ["mortgage escrow " * 40] * per_task  # ~600 characters, a passage's size
        ray.get(actor.embed.remote(0, texts))
        wall, cpu = time.perf_counter(), time.process_time()
        for number in range(tasks):
            ray.get(actor.embed.remote(number, texts))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        ray.shutdown()
    passages = tasks * per_task
    return {"passages": passages, "passages_per_task": per_task,
            "wall_ms_per_passage": round(1000 * wall / passages, 4),
            "driver_cpu_ms_per_passage": round(1000 * cpu / passages, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--transport-only", action="store_true", help="only the direct per-passage measurement")
    parser.add_argument("--from-log", default="", help="summarise the complete rounds an earlier run printed")
    args = parser.parse_args()
    variants = args.variants.split(",")
    sys.path.insert(0, str(ROOT))
    from rag.engines.local_cluster import LocalCluster

    if args.from_log:
        report(runs_from_log(Path(args.from_log), variants), args, variants, cluster_start=None)
        return
    with LocalCluster(nodes=1, cpus=1) as cluster:
        measured = transport(cluster.address)
    print(f"Ray engine transport: {measured['wall_ms_per_passage']} ms wall, {measured['driver_cpu_ms_per_passage']} "
          "ms driver CPU per passage")
    write_results("scale_ingest_transport", measured)
    if args.transport_only:
        return

    with tempfile.TemporaryDirectory() as scratch:
        corpus = Path(scratch) / "corpus"
        make_corpus(corpus, args.passages)
        began = time.perf_counter()
        with LocalCluster(nodes=2, cpus=1) as cluster:
            cluster_start = time.perf_counter() - began
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            runs: dict[str, list[dict]] = {v: [] for v in variants}
            for number in range(args.rounds):
                shift = number % len(variants)
                for variant in variants[shift:] + variants[:shift]:
                    runs[variant].append(run(variant, corpus, cluster.address, env))
                    print(f"round {number + 1} {variant}: {json.dumps(runs[variant][-1])}", flush=True)
                # Written after every round: a bench stopped later keeps the rounds it completed.
                report(runs, args, variants, cluster_start)


def runs_from_log(log: Path, variants: list[str]) -> dict[str, list[dict]]:
    """The runs an earlier invocation printed ("round N variant: {...}"), for a bench stopped mid-way;
    only complete rounds count, so every variant has as many runs as the others."""
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for line in log.read_text().splitlines():
        head, _, payload = line.partition(": ")
        parts = head.split()
        if len(parts) == 3 and parts[0] == "round" and parts[2] in runs:
            runs[parts[2]].append(json.loads(payload.replace("'", '"')))
    complete = min(len(r) for r in runs.values())
    if complete == 0:
        raise SystemExit(f"{log}: no complete round of {', '.join(variants)}")
    return {v: r[:complete] for v, r in runs.items()}


def report(runs: dict[str, list[dict]], args, variants: list[str], cluster_start: float | None) -> None:
    complete = min(len(r) for r in runs.values())
    if complete == 0:
        return
    runs = {v: r[:complete] for v, r in runs.items()}
    summary = {}
    for variant, results in runs.items():
        summary[variant] = {key: round(statistics.median(r[key] for r in results), 2)
                            for key in results[0] if isinstance(results[0][key], (int, float))}
        summary[variant]["passages_per_s"] = round(summary[variant]["passages"] / summary[variant]["seconds"], 2)
    if "local" in summary:
        for variant in summary:
            summary[variant]["speed_vs_local"] = round(summary["local"]["seconds"] / summary[variant]["seconds"], 3)
    if {"ray-1", "local-1t"} <= set(summary):
        ray, local = summary["ray-1"], summary["local-1t"]
        passages = ray["passages"]
        overhead = {"per_passage_ms_total": round(1000 * (ray["seconds"] - local["seconds"]) / passages, 3),
                    "per_passage_ms_excluding_start": round(
                        1000 * ((ray["seconds"] - ray["engine_start_s"]) - (local["seconds"] - local["engine_start_s"]))
                        / passages, 3),
                    "note": "ray-1 minus local-1t (the same compute: one process, one torch thread) per passage"}
    else:
        overhead = {"note": "measured directly, no model: bench/results/scale_ingest_transport.json"}
    for variant, figures in summary.items():
        print(f"{variant:9s} {figures['seconds']:8.1f} s  {figures['passages_per_s']:7.2f} passages/s  "
              f"x{figures.get('speed_vs_local', float('nan')):.2f} vs local")
    if "per_passage_ms_total" in overhead:
        print(f"Ray engine overhead: {overhead['per_passage_ms_excluding_start']} ms per passage after start "
              f"({overhead['per_passage_ms_total']} ms with start)")
    command = (f"python bench/scale_ingest.py --passages {args.passages} --rounds {args.rounds} "
               f"--variants {','.join(variants)}")
    write_results("scale_ingest", {"passages": args.passages, "rounds": args.rounds, "rounds_completed": complete,
                                   "cores": os.cpu_count(),
                                   "cluster_start_s": None if cluster_start is None else round(cluster_start, 1),
                                   "variants": summary, "overhead": overhead, "runs": runs,
                                   "command": command + (f" --from-log {args.from_log}" if args.from_log else "")})

if __name__ == "__main__":
    main()
