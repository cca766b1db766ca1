"""One logistic regression for the project's small learned decisions (evidence, sentence selection).

Gradient descent on standardised features with the classes balanced and a little L2, then the weights
mapped back to the raw feature scale, so a model is stored as plain numbers in JSON (never a pickle).
"""
from __future__ import annotations

import numpy as np


def fit_logistic(rows, labels, l2: float = 0.01, steps: int = 5000, rate: float = 0.1) -> tuple[np.ndarray, float]:
    """Weights (raw feature scale) and bias of a class-balanced logistic regression."""
    x = np.asarray(rows, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    xs = (x - mean) / std
    w, b = np.zeros(x.shape[1]), 0.0
    positive_weight = (1 - y.mean()) / max(y.mean(), 1e-9)  # balance the classes
    sample_weight = np.where(y == 1, positive_weight, 1.0)
    for _ in range(steps):
        p = sigmoid(xs @ w + b)
        gradient = (p - y) * sample_weight
        w -= rate * (xs.T @ gradient / len(y) + l2 * w)
        b -= rate * gradient.mean()
    weights = w / std
    return weights, float(b - (w * mean / std).sum())


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))
