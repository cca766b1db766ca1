"""Answerability: how well the gate refuses unanswerable questions (near-topic ones above all) without refusing
answerable ones, measured on the tune splits of both question files, gate only (no generation).

    python bench/answerability.py [--cfpb-index /tmp/cfpb] [--target 0.10]

Fits the evidence model (`rag.evidence.fit`, as `rag calibrate` does) on training-side questions only —
corpora/calibration/*.jsonl and corpora/training/qa-part-*.jsonl over the bundled index — and reads the gate's
features for every tune question of corpora/homeowner-questions.jsonl (bundled index) and
bench/questions/cfpb.jsonl (an index of ../shared/eval/corpus). The test splits are never read. For each
configuration it reports unanswerable refused, near-topic refused and false refusals per corpus, with 95 %
bootstrap intervals (`rag.evaluation.bootstrap_intervals`), and the threshold at which the pooled tune false
refusals stay within --target: the one `rag calibrate --threshold` ships. Writes bench/results/answerability.json.

Configurations: the model shipped before (three similarity/coverage features, fitted with the then-bundled
questions), the same three features refit on training-side data, the shipped feature set (rag.evidence.FEATURES),
that set with the lead sentence's score (needs the gate to be given the embedder), and the shipped model file.
The name rule (a name no passage contains) applies in every configuration, as in the gate.
"""
from __future__ import annotations

import argparse
from contextlib import nullcontext
from pathlib import Path

import numpy as np
from common import ROOT, shared_eval_index, write_results

from rag.evaluation import AnswerRecord, bootstrap_intervals, read_questions, select_split
from rag.evidence import FEATURES, LEAD_SCORE, EvidenceModel, fit, passages_read, read_labelled, signals
from rag.logistic import sigmoid

TRAINING = (*sorted((ROOT / "corpora" / "calibration").glob("*.jsonl")),
            *sorted((ROOT / "corpora" / "training").glob("qa-part-*.jsonl")))
TUNE = {"bundled": ROOT / "corpora" / "homeowner-questions.jsonl", "cfpb": ROOT / "bench" / "questions" / "cfpb.jsonl"}
# The model shipped before issue 18 (commit 33373fe): fitted on the bundled evaluation questions too.
BEFORE = EvidenceModel([4.86607, 2.37422, 4.38683], -6.6757, 0.38935,
                       features=("top_similarity", "mean_similarity_top3", "question_coverage"))
THREE = BEFORE.features


def rows_for(kb, questions: list[tuple[str, str, bool, str]], settings) -> list[dict]:
    """Every signal the gate can read, per question, from the passages the gate reads (`closest_passages`)."""
    gen = settings.generation
    k, wider = gen.passages, max(gen.passages, gen.rerank_candidates) if gen.rerank else gen.passages
    rows = []
    for qid, question, answerable, kind in questions:
        hits = passages_read(kb.search, question, k, wider, settings.answering)
        rows.append({"id": qid, "kind": kind, "answerable": answerable,
                     **signals(question, hits, settings.answering, kb.embedder.embed)})
    return rows


def refusals(model: EvidenceModel, rows: list[dict], threshold: float | None = None) -> np.ndarray:
    x = np.array([[r[f] for f in model.features] for r in rows])
    p = sigmoid(x @ np.array(model.weights) + model.bias)
    names = np.array([r["unmatched_names"] > 0 for r in rows])  # the gate's hard name rule
    return (p < (model.threshold if threshold is None else threshold)) | names, p


def measure(rows: list[dict], refused: np.ndarray) -> dict:
    def records(part):
        return [AnswerRecord(r["id"], r["kind"], r["answerable"], bool(x), False, 0.0, 0, 0, None, 0.0, "")
                for r, x in part]

    pairs = list(zip(rows, refused))
    near = [(r, x) for r, x in pairs if "near-topic" in r["kind"]]
    whole, near_iv = bootstrap_intervals(records(pairs)), bootstrap_intervals(records(near))

    def rate(part):
        return round(float(np.mean([x for _, x in part])), 3) if part else None

    return {"unanswerable_refused": rate([(r, x) for r, x in pairs if not r["answerable"]]),
            "unanswerable_refused_interval": whole["unanswerable_refused"],
            "near_topic_refused": rate(near), "near_topic_refused_interval": near_iv["unanswerable_refused"],
            "false_refusal": rate([(r, x) for r, x in pairs if r["answerable"]]),
            "false_refusal_interval": whole["false_refusal"],
            "unanswerable": sum(1 for r in rows if not r["answerable"]), "near_topic": len(near),
            "answerable": sum(1 for r in rows if r["answerable"])}


def tune_threshold(model: EvidenceModel, tune: dict[str, list[dict]], target: float) -> float:
    """The highest threshold at which the pooled tune false refusals (name rule included) stay within target."""
    best = 0.0
    for t in np.round(np.arange(0.02, 0.9, 0.005), 3):
        refused = [x for rows in tune.values() for r, x in zip(rows, refusals(model, rows, t)[0]) if r["answerable"]]
        if np.mean(refused) <= target:
            best = float(t)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cfpb-index", type=Path, help="an index of ../shared/eval/corpus (else one is built)")
    parser.add_argument("--target", type=float, default=0.10, help="pooled tune false refusals allowed")
    args = parser.parse_args()
    from rag.knowledge_base import KnowledgeBase
    from rag.settings import Settings

    settings = Settings.load()
    bundled = KnowledgeBase(ROOT / "indexes" / "homeowner", settings)
    training = [(f"{p.name}:{i}", q.question, q.answerable, "training") for p in TRAINING
                for i, q in enumerate(read_labelled(p))]
    train_rows = rows_for(bundled, training, settings)
    labels = [int(r["answerable"]) for r in train_rows]
    tune: dict[str, list[dict]] = {}
    with (nullcontext(args.cfpb_index) if args.cfpb_index else shared_eval_index()) as cfpb_index:
        for name, path in TUNE.items():
            if name == "cfpb" and cfpb_index is None:
                print("no ../shared/eval: CFPB skipped")
                continue
            kb = bundled if name == "bundled" else KnowledgeBase(cfpb_index, settings)
            questions = select_split(read_questions(path), "tune")  # never the test split
            tune[name] = rows_for(kb, [(q.id, q.question, q.answerable, q.kind) for q in questions], settings)

    def fitted(names):
        return fit([[r[f] for f in names] for r in train_rows], labels, names=names)

    configs = {"before (shipped model, 3 features)": BEFORE, "3 features refit on training-side data": fitted(THREE),
               "shipped features": fitted(FEATURES), "shipped features + lead score": fitted(FEATURES + (LEAD_SCORE,)),
               "shipped model file (rag/evidence.json)": EvidenceModel.load()}
    results: dict = {"training": {"files": [str(p.relative_to(ROOT)) for p in TRAINING],
                                  "answerable": sum(labels), "unanswerable": len(labels) - sum(labels)},
                     "target_false_refusal": args.target, "configurations": {}}
    for label, model in configs.items():
        entry = {"features": list(model.features), "weights": model.weights, "bias": model.bias,
                 "threshold_own": model.threshold}
        chosen = tune_threshold(model, tune, args.target)
        for how, threshold in (("own threshold", model.threshold), (f"tune threshold {chosen}", chosen)):
            entry[how] = {name: measure(rows, refusals(model, rows, threshold)[0]) for name, rows in tune.items()}
        entry["tune_threshold"] = chosen
        results["configurations"][label] = entry
        print(f"\n{label}: {', '.join(model.features)}")
        for how in ("own threshold", f"tune threshold {chosen}"):
            for name, m in entry[how].items():
                print(f"  {how:24s} {name:8s} refused {m['unanswerable_refused']:.3f} "
                      f"{m['unanswerable_refused_interval']}"
                      f"  near-topic {m['near_topic_refused']:.3f} {m['near_topic_refused_interval']}"
                      f"  false refusals {m['false_refusal']:.3f} {m['false_refusal_interval']}")
    write_results("answerability", results)


if __name__ == "__main__":
    main()
