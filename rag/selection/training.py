"""Fit the selector from labelled pairs and measure it against the hand-weighted highlight score.

Validation keeps whole questions out and reports what answering needs: for each held-out question,
is the best-scored sentence one that answers it (top-1), and how well scores order answering
sentences above the rest (ROC AUC) — for the learned model and for the hand-weighted score alike.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Callable, Sequence

import numpy as np

from ..logistic import fit_logistic
from ..policy import AnsweringPolicy
from .data import LabelledPair
from .features import sentence_features
from .model import SentenceSelector

Embed = Callable[[list[str]], np.ndarray]


def pairs_sha256(pairs: Sequence[LabelledPair]) -> str:
    return hashlib.sha256(json.dumps([asdict(p) for p in pairs], sort_keys=True).encode()).hexdigest()


def roc_auc(scores: Sequence[float], labels: Sequence[int]) -> float | None:
    """The probability that a random answering sentence outscores a random other one (ties count half)."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels)
    pos, neg = scores[labels == 1], scores[labels == 0]
    if not len(pos) or not len(neg):
        return None
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return round(float(greater / (len(pos) * len(neg))), 4)


def top1(scores: Sequence[float], pairs: Sequence[LabelledPair]) -> float | None:
    """Share of answerable questions whose best-scored sentence answers them."""
    best: dict[str, tuple[float, int]] = {}
    answerable = {p.group for p in pairs if p.label}
    for score, pair in zip(scores, pairs):
        if pair.group in answerable and (pair.group not in best or score > best[pair.group][0]):
            best[pair.group] = (float(score), pair.label)
    return round(sum(label for _, label in best.values()) / len(best), 4) if best else None


def featurize(pairs: Sequence[LabelledPair], embed: Embed, policy: AnsweringPolicy,
              baseline: Callable | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows for every pair (in order), and the hand-weighted score of each when `baseline` is given
    (it is `rag.highlighting`'s score function, called as highlighting calls it)."""
    old = np.zeros(len(pairs))
    by_question: dict[str, list[int]] = {}
    for i, pair in enumerate(pairs):
        by_question.setdefault(pair.group, []).append(i)
    parts: dict[int, np.ndarray] = {}
    for members in by_question.values():
        mine = [pairs[i] for i in members]
        vectors = embed([mine[0].question] + [p.text for p in mine])
        candidates = [(p.rank, p.heading, p.sentence) for p in mine]
        similarity = [0.0] * max(p.rank for p in mine)
        for p in mine:
            similarity[p.rank - 1] = p.passage_similarity
        parts.update(zip(members, sentence_features(mine[0].question, vectors[0], candidates, vectors[1:],
                                                    similarity, policy)))
        if baseline is not None:
            old[members] = baseline(mine[0].question, vectors[0], candidates, vectors[1:], policy)
    rows = np.array([parts[i] for i in range(len(pairs))])
    return rows, old


def fit_selector(pairs: Sequence[LabelledPair], validation: set[str], embed: Embed, policy: AnsweringPolicy,
                 baseline: Callable | None = None, l2: float = 0.01) -> tuple[SentenceSelector, dict]:
    """A selector fitted on the pairs outside `validation`, and the validation report (learned vs hand-weighted);
    the returned selector is then refitted on every pair, as shipped."""
    rows, old = featurize(pairs, embed, policy, baseline)
    labels = np.array([p.label for p in pairs])
    held = np.array([p.group in validation for p in pairs])
    weights, bias = fit_logistic(rows[~held], labels[~held], l2=l2)
    trial = SentenceSelector(list(weights), bias)
    held_pairs = [p for p, h in zip(pairs, held) if h]
    learned_scores = trial.score(rows[held])
    report = {"validation_questions": len(validation), "validation_pairs": int(held.sum()),
              "learned": {"top1": top1(learned_scores, held_pairs), "auc": roc_auc(learned_scores, labels[held])}}
    if baseline is not None:
        report["hand_weighted"] = {"top1": top1(old[held], held_pairs), "auc": roc_auc(old[held], labels[held])}
    weights, bias = fit_logistic(rows, labels, l2=l2)
    selector = SentenceSelector([round(float(w), 5) for w in weights], round(bias, 5), {
        "pairs": len(pairs), "answering": int(labels.sum()), "questions": len({p.group for p in pairs}),
        "origins": dict(sorted({o: sum(p.origin == o for p in pairs) for o in {p.origin for p in pairs}}.items())),
        "pairs_sha256": pairs_sha256(pairs), "validation": report})
    return selector, report
