"""Retrieval's fusion: reciprocal-rank fusion against the learned ranker (rag.fusion), on the tune splits.

For every answerable tune question of corpora/homeowner-questions.jsonl (bundled index) and
bench/questions/cfpb.jsonl (an index of ../shared/eval/corpus), the rank of the first retrieved passage that
holds every gold phrase (as `rag eval` matches them) in `search(question, k=8)`; reported as the share found in
the top 1 / 2 / 4 / 8 (answers read the top 4; the lead sentence comes from the top 2), with 95 % bootstrap
intervals and the questions found in the top 2 / 4 by one ranker only. Search time per question is measured on
the same questions, the two rankers interleaved. The test splits are never read.

    python bench/fusion.py [--cfpb-index /tmp/cfpb] [--ranker candidate.json]

With `--ranker`, the shipped ranker is compared with the candidate file instead of RRF with the shipped one.
"""
from __future__ import annotations

import argparse
import random
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

from common import ROOT, shared_eval_index, write_results

import rag
from rag.evaluation import phrases_found, read_questions, select_split

VARIANTS = {"rrf": {"retrieval__fusion": "rrf"}, "learned": {"retrieval__fusion": "learned"}}
KS = (1, 2, 4, 8)


def gold_rank(hits, answers) -> int | None:
    return next((i for i, h in enumerate(hits) if phrases_found(h.labelled_text, answers) == 1.0), None)


def share_interval(found: list[bool], resamples: int = 2000, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    n = len(found)
    shares = sorted(sum(found[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    return [round(shares[int(0.025 * resamples)], 3), round(shares[int(0.975 * resamples) - 1], 3)]


def measure(index: Path, questions: Path, variants: dict[str, dict]) -> dict:
    asked = [q for q in select_split(read_questions(questions), "tune") if q.answerable]
    settings = rag.Settings.load(env={})
    kbs = {name: rag.open(index, settings.with_overrides(**overrides)) for name, overrides in variants.items()}
    names = tuple(variants)  # the two compared, in a fixed order
    ranks: dict[str, dict[str, int | None]] = {f: {} for f in names}
    seconds: dict[str, list[float]] = {f: [] for f in names}
    for kb in kbs.values():
        kb.search("warm-up question", 8)
    for i, q in enumerate(asked):
        for name in (names if i % 2 == 0 else names[::-1]):  # interleaved, alternating who goes first
            started = time.perf_counter()
            hits = kbs[name].search(q.question, 8)
            seconds[name].append(time.perf_counter() - started)
            ranks[name][q.id] = gold_rank(hits, q.answers)
    out: dict = {"answerable": len(asked)}
    for name in names:
        found = {k: [r is not None and r < k for r in ranks[name].values()] for k in KS}
        out[name] = {
            **{f"top{k}": round(sum(found[k]) / len(asked), 3) for k in KS},
            "intervals": {f"top{k}": share_interval(found[k]) for k in KS},
            "search_ms_median": round(1000 * statistics.median(seconds[name]), 2),
        }
    def within(name: str, qid: str, k: int) -> bool:
        return ranks[name][qid] is not None and ranks[name][qid] < k

    for k in (2, 4):
        out[f"only_in_top{k}"] = {
            f: sorted(q.id for q in asked if within(f, q.id, k) and not within(other, q.id, k))
            for f, other in zip(names, names[::-1])}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cfpb-index", default="", help="an index of ../shared/eval/corpus (default: build one)")
    parser.add_argument("--ranker", default="", help="a candidate ranker file to compare with the shipped one")
    args = parser.parse_args()
    variants = VARIANTS if not args.ranker else {
        "shipped": {"retrieval__fusion": "learned"},
        "candidate": {"retrieval__fusion": "learned", "retrieval__ranker": str(Path(args.ranker).resolve())}}
    results = {"how": __doc__.split("\n\n")[1].replace("\n", " "), "variants": variants,
               "bundled": measure(ROOT / "indexes" / "homeowner", ROOT / "corpora" / "homeowner-questions.jsonl",
                                  variants)}
    with (nullcontext(Path(args.cfpb_index)) if args.cfpb_index else shared_eval_index()) as index:
        if index is not None:
            results["cfpb"] = measure(index, ROOT / "bench" / "questions" / "cfpb.jsonl", variants)
    for corpus in ("bundled", "cfpb"):
        if corpus in results:
            r = results[corpus]
            print(corpus, {f: {k: r[f][f"top{k}"] for k in KS} | {"ms": r[f]["search_ms_median"]} for f in variants})
    write_results("fusion" if not args.ranker else "fusion_candidate", results)


if __name__ == "__main__":
    main()
