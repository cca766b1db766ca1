"""One logistic regression for the project's small learned decisions (evidence, sentence selection).

Gradient descent on standardised features with the classes balanced and a little L2, then the weights
mapped back to the raw feature scale, so a model is stored as plain numbers in JSON (never a pickle);
`read_model` reads such a file back, with one-line errors naming the setting that points at it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import ConfigError


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


def read_model(path: str | Path, bundled: Path, setting: str, command: str, what: str,
               features: Sequence[str]) -> tuple[list[float], float, dict]:
    """Weights, bias and the whole JSON of the model at `path` (the `setting`'s value), or of the `bundled` one
    when empty. A missing, unreadable or mismatched file (other features, another count of weights) is a
    one-line ConfigError naming the setting and what to do."""
    where = Path(path) if path else bundled
    fix = (f"point {setting} at a file written by '{command}', or set it to \"\" for the bundled one" if path
           else f"the bundled {what} is missing; reinstall rag")
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
        named = data.get("features")
        if named is not None and tuple(named) != tuple(features):
            raise ValueError(f"features {named} are not this version's {list(features)}")
        weights = [float(w) for w in data["weights"]]
        if len(weights) != len(features):
            raise ValueError(f"{len(weights)} weights for {len(features)} features")
        return weights, float(data["bias"]), data
    except FileNotFoundError:
        raise ConfigError(f"{setting}: no file at {where}; {fix}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        article = "an" if what[:1] in "aeiou" else "a"
        raise ConfigError(f"{setting}: {where} is not {article} {what} ({type(exc).__name__}: {exc}); {fix}") from None
