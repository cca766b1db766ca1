"""Fit the selector: LoRA on the bundled MiniLM with a one-logit head, binary cross-entropy.

Validation keeps whole questions out (every sentence of a held-out question), and reports
what answering needs: for each held-out question, is the best-scored sentence one that
answers it (top-1), and how well scores order answers above the rest (ROC AUC).
"""
from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .. import offline
from ..threads import threads_per_model
from .data import LabelledPair
from .model import CARD


@dataclass
class SelectorTrainingConfig:
    rank: int = field(default=8, metadata={"help": "LoRA rank on the attention projections"})
    alpha: int = field(default=16, metadata={"help": "LoRA scaling numerator (scale = alpha / rank)"})
    dropout: float = field(default=0.1, metadata={"help": "LoRA dropout"})
    target_modules: list[str] = field(default_factory=lambda: ["query", "key", "value", "dense"],
                                      metadata={"help": "BERT modules that get LoRA weights"})
    learning_rate: float = field(default=5e-4, metadata={"help": "AdamW learning rate"})
    epochs: int = field(default=3, metadata={"help": "passes over the training pairs"})
    batch_size: int = field(default=32, metadata={"help": "pairs per optimiser step"})
    max_tokens: int = field(default=128, metadata={"help": "question + sentence word pieces (the sentence is cut)"})
    validation_share: float = field(default=0.15, metadata={"help": "questions held out to validate"})
    max_minutes: float = field(default=30.0, metadata={"help": "wall-clock bound; the last finished epoch is kept"})
    seed: int = field(default=0, metadata={"help": "shuffling, LoRA init and the validation split"})
    threads: int = field(default=0, metadata={"help": "torch threads; 0: the thread policy (rag.threads)"})

    def __post_init__(self):
        if not 0 < self.validation_share < 1:
            raise ValueError(f"validation_share must be between 0 and 1, got {self.validation_share}")
        if self.rank < 1 or self.batch_size < 1 or self.epochs < 1:
            raise ValueError("rank, batch_size and epochs must be at least 1")


def pairs_sha256(pairs: Sequence[LabelledPair]) -> str:
    return hashlib.sha256(json.dumps([asdict(p) for p in pairs], sort_keys=True).encode()).hexdigest()


def roc_auc(scores: Sequence[float], labels: Sequence[int]) -> float | None:
    """The probability that a random answering sentence outscores a random other one (ties count half)."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels)
    pos, neg = scores[labels == 1], scores[labels == 0]
    if not len(pos) or not len(neg):
        return None
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def top1(scores: Sequence[float], pairs: Sequence[LabelledPair]) -> float | None:
    """Share of answerable questions whose best-scored sentence answers them."""
    best: dict[str, tuple[float, int]] = {}
    answerable = {p.group for p in pairs if p.label}
    for score, pair in zip(scores, pairs):
        if pair.group in answerable and (pair.group not in best or score > best[pair.group][0]):
            best[pair.group] = (float(score), pair.label)
    return round(sum(label for _, label in best.values()) / len(best), 4) if best else None


def train_selector(pairs: Sequence[LabelledPair], validation: set[str], encoder: Path, out: Path,
                   config: SelectorTrainingConfig, baseline: Callable[[Sequence[LabelledPair]], list[float]] | None
                   = None, log: Callable[[str], None] = print) -> dict:
    """Train on the pairs outside `validation` (question groups); write adapter + card to `out`; the card."""
    offline.prepare()
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(config.seed)
    torch.set_num_threads(threads_per_model(config.threads))
    tokenizer = AutoTokenizer.from_pretrained(str(encoder), local_files_only=True)
    base = AutoModelForSequenceClassification.from_pretrained(str(encoder), num_labels=1, local_files_only=True)
    model = get_peft_model(base, LoraConfig(task_type=TaskType.SEQ_CLS, r=config.rank, lora_alpha=config.alpha,
                                            lora_dropout=config.dropout, target_modules=config.target_modules))
    train = [p for p in pairs if p.group not in validation]
    held = [p for p in pairs if p.group in validation]
    positives = sum(p.label for p in train)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor((len(train) - positives) / max(1, positives)))
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate)
    steps_per_epoch = -(-len(train) // config.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: max(0.0, 1 - step / (steps_per_epoch * config.epochs)))

    def encode(batch: Sequence[LabelledPair]):
        return tokenizer([p.question for p in batch], [p.text for p in batch], truncation="only_second",
                         max_length=config.max_tokens, padding=True, return_tensors="pt")

    def scores_of(batch_pairs: Sequence[LabelledPair]) -> list[float]:
        model.eval()
        out_scores: list[float] = []
        with torch.inference_mode():
            for start in range(0, len(batch_pairs), 64):
                out_scores += model(**encode(batch_pairs[start:start + 64])).logits[:, 0].tolist()
        model.train()
        return out_scores

    rng = random.Random(config.seed)
    started, history = time.monotonic(), []
    for epoch in range(1, config.epochs + 1):
        order = list(train)
        rng.shuffle(order)
        model.train()
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            batch = order[start:start + config.batch_size]
            logits = model(**encode(batch)).logits[:, 0]
            loss = loss_fn(logits, torch.tensor([float(p.label) for p in batch]))
            loss.backward()
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            total += loss.item() * len(batch)
        held_scores = scores_of(held)
        history.append({"epoch": epoch, "train_loss": round(total / len(order), 4),
                        "validation_auc": _round(roc_auc(held_scores, [p.label for p in held])),
                        "validation_top1": top1(held_scores, held)})
        log(f"epoch {epoch}: {history[-1]}")
        if (time.monotonic() - started) / 60 > config.max_minutes:
            log(f"stopped after epoch {epoch}: the {config.max_minutes}-minute bound")
            break
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    card = {"model": "cross-encoder: LoRA + one-logit head on the bundled MiniLM (all-MiniLM-L6-v2)",
            "config": asdict(config), "pairs": len(pairs), "training_pairs": len(train),
            "training_positives": positives, "validation_pairs": len(held),
            "validation_questions": len(validation), "origins": _count(p.origin for p in train),
            "pairs_sha256": pairs_sha256(pairs), "history": history,
            "minutes": round((time.monotonic() - started) / 60, 1)}
    if baseline is not None:  # the hand-weighted highlight score on the same held-out sentences
        old = baseline(held)
        card["validation_baseline"] = {"auc": _round(roc_auc(old, [p.label for p in held])),
                                       "top1": top1(old, held)}
    (out / CARD).write_text(json.dumps(card, indent=2) + "\n")
    return card


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _count(values) -> dict:
    counts: dict = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts
