"""Learned answer-sentence selection: which retrieved sentence answers the question.

`data.labelled_pairs` labels the candidate sentences of the project's own question/answer
pairs; `features` turns a (question, sentence) pair into the numbers the model reads;
`training.fit_selector` fits a logistic model on them (measured against the hand-weighted
highlight score on held-out questions); `model.SentenceSelector` scores at answering time.
"""
from .model import SentenceSelector

__all__ = ["SentenceSelector"]
