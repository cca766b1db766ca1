"""Learned answer-sentence selection: a cross-encoder scores (question, sentence) pairs.

`model.SentenceSelector` scores; `data.labelled_pairs` builds labelled pairs from the
project's own corpus and question/answer pairs; `training.train_selector` fits a LoRA
adapter (plus the classification head) on the bundled MiniLM, so what ships is small.
"""
from .model import SentenceSelector

__all__ = ["SentenceSelector"]
