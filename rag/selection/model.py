"""The sentence selector at answering time: P(this sentence answers the question) from its features.

A logistic model over `features.FEATURES`, fitted on labelled pairs by `rag tune-selector` and stored
as JSON beside the evidence model (plain numbers; never a pickle).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..logistic import read_model, sigmoid
from .features import FEATURES

DEFAULT_SELECTOR = Path(__file__).resolve().parent.parent / "selector.json"


def pair_text(heading: str, sentence: str) -> str:
    """What is embedded for a sentence: its heading gives a bare sentence its subject."""
    return f"{heading}: {sentence}" if heading else sentence


@dataclass
class SentenceSelector:
    weights: list[float]  # one per feature, in FEATURES' order
    bias: float
    fitted_on: dict = field(default_factory=dict)

    def score(self, rows: np.ndarray) -> np.ndarray:
        """One probability per feature row."""
        if not len(rows):
            return np.zeros(0)
        return sigmoid(np.asarray(rows) @ np.asarray(self.weights) + self.bias)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"features": FEATURES, **asdict(self)}, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path = "") -> "SentenceSelector":
        """The selector at `path`, or the bundled one when empty."""
        weights, bias, data = read_model(path, DEFAULT_SELECTOR, "answering.selector", "rag tune-selector",
                                         "sentence selector", FEATURES)
        return cls(weights, bias, data.get("fitted_on", {}))
