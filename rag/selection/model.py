"""The sentence selector at answering time: P(this sentence answers the question), batched.

A cross-encoder reads question and sentence together ("[CLS] question [SEP] heading:
sentence [SEP]"), so it can tell a sentence that answers from one that only shares the
topic's words, which the bi-encoder cosine and word overlap of `rag.highlighting` cannot.
The encoder is the bundled MiniLM (or `embedding.model`); the selector folder holds only
a LoRA adapter and the classification head, so it ships like the generator's adapter.
"""
from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import offline
from ..errors import ConfigError
from ..threads import threads_per_model

CARD = "training_card.json"


def pair_text(heading: str, sentence: str) -> str:
    """What the selector reads for a sentence: its heading gives a bare sentence its subject."""
    return f"{heading}: {sentence}" if heading else sentence


class SentenceSelector:
    def __init__(self, folder: str | Path, encoder: str | Path, max_tokens: int = 128, batch_size: int = 32,
                 threads: int = 0):
        self.folder = Path(folder)
        if not (self.folder / "adapter_config.json").is_file():
            raise ConfigError(f"selector: no trained selector at {self.folder} (no adapter_config.json); "
                              "train one with 'rag tune-selector', or turn the selector off")
        self.encoder = Path(encoder)
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.threads = threads

    @cached_property
    def card(self) -> dict:
        path = self.folder / CARD
        return json.loads(path.read_text()) if path.is_file() else {}

    @cached_property
    def _model(self):
        offline.prepare()
        import torch
        from peft import PeftModel
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        torch.set_num_threads(threads_per_model(self.threads))
        tokenizer = AutoTokenizer.from_pretrained(str(self.encoder), local_files_only=True)
        base = AutoModelForSequenceClassification.from_pretrained(str(self.encoder), num_labels=1,
                                                                  local_files_only=True)
        model = PeftModel.from_pretrained(base, str(self.folder)).merge_and_unload()
        model.eval()
        return tokenizer, model

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        """One probability per text (each "heading: sentence" or a bare sentence) that it answers the question."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        import torch

        tokenizer, model = self._model
        scores = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = list(texts[start:start + self.batch_size])
                encoded = tokenizer([question] * len(batch), batch, truncation="only_second",
                                    max_length=self.max_tokens, padding=True, return_tensors="pt")
                scores.append(torch.sigmoid(model(**encoded).logits[:, 0]).float().numpy())
        return np.concatenate(scores)
