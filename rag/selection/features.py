"""What the selector sees of a (question, sentence) pair: cheap numbers answering already has at hand.

The bi-encoder cosine of question and "heading: sentence" and the word overlap are what the
hand-weighted highlight score adds up; the learned model also sees how each compares with the
best candidate for the same question, the heading's overlap, the passage's rank and retrieval
similarity, whether a figure is asked for and given, and the sentence's length — and learns their
weights from labelled pairs instead of having them set by hand.
"""
from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np

from ..policy import AnsweringPolicy
from ..text import content_words, share_found

FEATURES = ("cosine", "cosine_below_best", "question_words_in_sentence", "overlap_below_best",
            "question_words_in_heading", "sentence_words_in_question", "figure_asked_and_given", "passage_rank",
            "passage_similarity", "log_words")


def sentence_features(question: str, question_vector: np.ndarray, candidates: Sequence[tuple[int, str, str]],
                      sentence_vectors: np.ndarray, passage_similarity: Sequence[float],
                      policy: AnsweringPolicy) -> np.ndarray:
    """One row per candidate (passage number n, heading, sentence); `sentence_vectors` embed "heading: sentence";
    `passage_similarity[n - 1]` is passage n's retrieval similarity."""
    if not len(candidates):
        return np.zeros((0, len(FEATURES)))
    asked = content_words(question)
    wants_figure = bool(policy.regex("asks_quantity").search(question))
    cosines = sentence_vectors @ question_vector
    overlaps = np.array([share_found(asked, content_words(s)) for _, _, s in candidates])
    rows = []
    for (n, heading, sentence), cosine, overlap in zip(candidates, cosines, overlaps):
        rows.append([float(cosine), float(cosine - cosines.max()), float(overlap), float(overlap - overlaps.max()),
                     share_found(asked, content_words(heading)),
                     share_found(content_words(sentence), asked),
                     1.0 if wants_figure and re.search(r"\d", sentence) else 0.0,
                     float(n - 1), float(passage_similarity[n - 1]), math.log(1 + len(sentence.split()))])
    return np.array(rows)
