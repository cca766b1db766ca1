"""Answer quality of setting variants on the tune splits, side by side, with paired differences.

Each variant is `rag eval FILE --split tune --out …` in a fresh process with some settings changed through the
environment (one thread each, two at a time on two cores); the bundled questions run against the shipped
index, the CFPB questions against an index of ../shared/eval/corpus. Only metrics and question ids go into
bench/results/answer_variants.json: the answers quote the CFPB documents, which stay out of the repository.

Run: python bench/answer_variants.py [--run default,rerank,transformers,float32-queries] [--folder DIR]
(`rag eval --out` files are kept as DIR/<variant>-<corpus>.json; every variant found there is summarised, so a
variant can be re-run alone: --run rerank --folder DIR.)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import ROOT, SHARED_EVAL, write_results

VARIANTS = {  # name: settings changed from the defaults
    "default": {},
    "rerank": {"generation.rerank": True},
    "transformers": {"generation.backend": "transformers"},
    "float32-queries": {"embedding.query_precision": "float32"},
}
CORPORA = {"bundled": "corpora/homeowner-questions.jsonl", "cfpb": "bench/questions/cfpb.jsonl"}
METRICS = ("correct", "citation_precision", "unanswerable_refused", "false_refusal", "lead_correct", "mean_words")
PAIRED = ("correct", "refused", "lead_correct")


def run(variant: str, corpus: str, index: Path, folder: Path) -> Path:
    out = folder / f"{variant}-{corpus}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update({"RAG_THREADS": "1", "RAG_LOG__ENABLED": "false"})
    for key, value in VARIANTS[variant].items():
        env["RAG_" + key.upper().replace(".", "__")] = str(value).lower()
    subprocess.run([sys.executable, "-m", "cli.main", "eval", CORPORA[corpus], "--index", str(index), "--split",
                    "tune", "--json", "--out", str(out)], cwd=ROOT, env=env, check=True, capture_output=True)
    return out


def summarise(folder: Path, variants: list[str]) -> dict:
    table: dict = {}
    for corpus in CORPORA:
        records = {}
        for variant in variants:
            path = folder / f"{variant}-{corpus}.json"
            if not path.is_file():
                continue
            data = json.loads(path.read_text())
            answers = data["answers"]
            records[variant] = {r["id"]: r for r in data["records"]}
            near = answers["by_kind"].get("unanswerable-near-topic", {})
            table.setdefault(corpus, {})[variant] = {
                **{m: answers["overall"][m] for m in METRICS}, "n": answers["overall"]["n"],
                "intervals": {m: answers["intervals"][m] for m in METRICS if m in answers["intervals"]},
                "near_topic_refused": near.get("unanswerable_refused")}
        if "default" in records:
            for variant in records:
                if variant == "default":
                    continue
                base, other = records["default"], records[variant]
                table[corpus][variant]["vs_default"] = {
                    key: {"only_default": sorted(i for i in base if base[i].get(key) and not other[i].get(key)),
                          "only_variant": sorted(i for i in base if other[i].get(key) and not base[i].get(key))}
                    for key in PAIRED}
    return table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", default=",".join(VARIANTS), help="variants to evaluate now (comma-separated)")
    parser.add_argument("--folder", default="", help="where the `rag eval --out` files are kept (default: a new one)")
    args = parser.parse_args()
    folder = Path(args.folder or tempfile.mkdtemp(prefix="answer-variants-"))
    folder.mkdir(parents=True, exist_ok=True)
    to_run = [v for v in args.run.split(",") if v]
    if to_run:
        if not (SHARED_EVAL / "corpus").is_dir():
            raise SystemExit(f"{SHARED_EVAL / 'corpus'} is missing: the CFPB half needs it")
        cfpb = folder / "cfpb-index"
        subprocess.run([sys.executable, "-m", "cli.main", "ingest", str(SHARED_EVAL / "corpus"), "--index",
                        str(cfpb), "--quiet"], cwd=ROOT, check=True)
        indexes = {"bundled": ROOT / "indexes" / "homeowner", "cfpb": cfpb}
        with ThreadPoolExecutor(2) as pool:  # two processes of one thread each on two cores
            list(pool.map(lambda job: run(*job, indexes[job[1]], folder),
                          [(v, c) for v in to_run for c in CORPORA]))
    variants = [v for v in VARIANTS if any((folder / f"{v}-{c}.json").is_file() for c in CORPORA)]
    write_results("answer_variants", {
        "how": "rag eval FILE --split tune, one process per (variant, corpus), RAG_THREADS=1, two at a time; "
               "settings changed from the defaults: " + json.dumps({v: VARIANTS[v] for v in variants}) +
               ". vs_default: ids of questions right (or refused) in one only.",
        "corpora": summarise(folder, variants)})


if __name__ == "__main__":
    main()
