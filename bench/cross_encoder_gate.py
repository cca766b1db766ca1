"""Probe: the cross-encoder's best sentence score as a feature of the refusal gate, on the tune splits.

    python bench/cross_encoder_probe.py --fold 0 --save /tmp/ce_fold0 --skip-eval   # and --fold 1
    python bench/cross_encoder_gate.py --models /tmp/ce_fold0 /tmp/ce_fold1 [--cfpb-index /tmp/cfpb]

The gate's evidence model is refit (as bench/answerability.py does, on the same training-side questions) with
its shipped features and with one more: the highest cross-encoder probability over the sentences of the
passages the gate reads. A training question's score comes from the fold model that never saw it (cross-fitting;
a model scores its own training questions too confidently), a tune question's from the mean of both. The
threshold is the one keeping pooled tune false refusals within --target, as shipped. The test splits are
never read. Writes bench/results/cross_encoder_gate.json.
"""
from __future__ import annotations

import argparse
from contextlib import nullcontext
from pathlib import Path

import numpy as np
from answerability import TRAINING, TUNE, measure, refusals, tune_threshold
from common import ROOT, shared_eval_index, write_results
from cross_encoder_probe import question_fold, scorer

from rag.evaluation import read_questions, select_split
from rag.evidence import FEATURES, EvidenceModel, fit, passages_read, read_labelled, signals
from rag.highlighting import _QUESTION, statements
from rag.logistic import sigmoid
from rag.selection.data import question_group

CE = "cross_encoder_best"


class FoldModels:
    def __init__(self, folders: list[Path]):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        torch.set_num_threads(1)
        self.scores = [scorer(AutoTokenizer.from_pretrained(str(f)),
                              AutoModelForSequenceClassification.from_pretrained(str(f)).eval()) for f in folders]

    def best(self, question: str, texts: list[str], which: list[int]) -> float:
        """The mean over the chosen fold models of each model's highest probability among `texts`."""
        if not texts:
            return 0.0
        return float(np.mean([sigmoid(max(self.scores[i](question, texts))) for i in which]))


def rows_with_scores(kb, questions, settings, models: FoldModels, cross_fit: bool) -> list[dict]:
    gen = settings.generation
    k, wider = gen.passages, max(gen.passages, gen.rerank_candidates) if gen.rerank else gen.passages
    rows = []
    for qid, question, answerable, kind in questions:
        hits = passages_read(kb.search, question, k, wider, settings.answering)
        texts = [f"{h}: {s}" if h else s for hit in hits for h, s in statements(hit, settings.answering)
                 if not _QUESTION.search(s)]
        which = [question_fold(question_group(question))] if cross_fit else [0, 1]
        rows.append({"id": qid, "kind": kind, "answerable": answerable,
                     **signals(question, hits, settings.answering, kb.embedder.embed),
                     CE: models.best(question, texts, which)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, nargs=2, required=True, help="fold 0 and fold 1 model folders")
    parser.add_argument("--cfpb-index", type=Path)
    parser.add_argument("--target", type=float, default=0.10)
    args = parser.parse_args()
    from rag.knowledge_base import KnowledgeBase
    from rag.settings import Settings

    settings = Settings.load()
    models = FoldModels(list(args.models))
    bundled = KnowledgeBase(ROOT / "indexes" / "homeowner", settings)
    training = [(f"{p.name}:{i}", q.question, q.answerable, "training") for p in TRAINING
                for i, q in enumerate(read_labelled(p))]
    train_rows = rows_with_scores(bundled, training, settings, models, cross_fit=True)
    labels = [int(r["answerable"]) for r in train_rows]
    tune: dict[str, list[dict]] = {}
    with (nullcontext(args.cfpb_index) if args.cfpb_index else shared_eval_index()) as cfpb_index:
        for name, path in TUNE.items():
            if name == "cfpb" and cfpb_index is None:
                continue
            kb = bundled if name == "bundled" else KnowledgeBase(cfpb_index, settings)
            questions = select_split(read_questions(path), "tune")
            tune[name] = rows_with_scores(kb, [(q.id, q.question, q.answerable, q.kind) for q in questions],
                                          settings, models, cross_fit=False)

    def fitted(names):
        return fit([[r[f] for f in names] for r in train_rows], labels, names=names)

    configs = {"shipped features, refit": fitted(FEATURES),
               "shipped features + cross-encoder": fitted(FEATURES + (CE,)),
               "shipped model file": EvidenceModel.load()}
    results: dict = {"training": {"answerable": sum(labels), "unanswerable": len(labels) - sum(labels)},
                     "target_false_refusal": args.target, "configurations": {}}
    for label, model in configs.items():
        chosen = tune_threshold(model, tune, args.target)
        entry = {"features": list(model.features), "weights": model.weights, "bias": model.bias,
                 "tune_threshold": chosen,
                 "tune": {name: measure(rows, refusals(model, rows, chosen)[0]) for name, rows in tune.items()}}
        results["configurations"][label] = entry
        print(f"\n{label}: weights {model.weights}")
        for name, m in entry["tune"].items():
            print(f"  tune threshold {chosen:<6} {name:8s} refused {m['unanswerable_refused']:.3f} "
                  f"{m['unanswerable_refused_interval']}  near-topic {m['near_topic_refused']:.3f}  "
                  f"false refusals {m['false_refusal']:.3f} {m['false_refusal_interval']}")
    write_results("cross_encoder_gate", results)


if __name__ == "__main__":
    main()
