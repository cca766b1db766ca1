"""The learned sentence selector: labelled pairs, the leak guard, features, fitting and the stored model."""
from __future__ import annotations

import json

import numpy as np
import pytest

from rag.errors import ConfigError
from rag.highlighting import hand_weighted_scores
from rag.policy import AnsweringPolicy
from rag.selection import SentenceSelector
from rag.selection.data import labelled_pairs, validation_groups
from rag.selection.features import FEATURES, sentence_features
from rag.selection.training import featurize, fit_selector, roc_auc, top1

from .conftest import FakeEmbedder, hit

PMI = hit("Borrowers can ask to cancel PMI at 80 percent. It ends automatically at 78 percent of the original "
          "value. Lender-paid insurance cannot be cancelled.", "loans/pmi.md", 1, section="Loans > Ending PMI")
ESCROW = hit("The servicer may keep a cushion of up to one sixth of the yearly payments. It reviews the account "
             "every year.", "escrow.md", 2, section="Escrow > Cushion")


def search(question, k):
    return [PMI, ESCROW][:k]


PAIRS = [{"question": "When does mortgage insurance stop on its own?", "doc": "loans/pmi.md",
          "support": "It ends automatically at 78 percent of the original value."},
         {"question": "How big may the escrow cushion be?", "doc": "escrow.md",
          "support": "The servicer may keep a cushion of up to one sixth of the yearly payments."}]
UNANSWERABLE = [{"question": "What is the PMI rate in Ohio today?"}]


def test_sentences_are_labelled_against_the_support():
    pairs = labelled_pairs(PAIRS, UNANSWERABLE, search, candidates=2, negatives_per_question=10)
    positives = {(p.question, p.text) for p in pairs if p.label}
    assert all(p.rank in (1, 2) and p.passage_similarity == 0.6 for p in pairs)
    assert positives == {(PAIRS[0]["question"], "Ending PMI: It ends automatically at 78 percent of the original "
                          "value."),
                         (PAIRS[1]["question"], "Cushion: The servicer may keep a cushion of up to one sixth of the "
                          "yearly payments.")}
    same_passage = [p for p in pairs if p.question == PAIRS[0]["question"] and not p.label]
    assert any("80 percent" in p.text for p in same_passage), "the same passage's other sentences are negatives"
    assert all(p.label == 0 and p.origin == "unanswerable" for p in pairs if p.question == UNANSWERABLE[0]["question"])


def test_negatives_are_capped_and_the_support_found_when_retrieval_misses_it():
    pairs = labelled_pairs(PAIRS[:1], [], lambda q, k: [ESCROW] if q == PAIRS[0]["question"] else [PMI],
                           candidates=1, negatives_per_question=1)
    assert sum(p.label for p in pairs) == 1 and sum(1 - p.label for p in pairs) == 1


def test_an_evaluation_question_never_becomes_training_data():
    with pytest.raises(ValueError, match="evaluation question"):
        labelled_pairs(PAIRS, [], search, 2, 5, held_out=["how big may the  escrow cushion be?"])


def test_validation_keeps_whole_questions_out_and_is_stable():
    pairs = labelled_pairs(PAIRS * 5, UNANSWERABLE, search, 2, 5)
    groups = validation_groups(pairs, 0.5, seed=3)
    assert groups == validation_groups(pairs, 0.5, seed=3) and len(groups) == 2  # 3 questions, repeats merged
    held_questions = {p.question for p in pairs if p.group in groups}
    assert all(p.group in groups for p in pairs if p.question in held_questions), "a question is held out whole"


def test_metrics():
    assert roc_auc([0.9, 0.1, 0.5], [1, 0, 0]) == 1.0
    assert roc_auc([0.1, 0.9], [1, 0]) == 0.0
    assert roc_auc([0.5], [1]) is None
    pairs = labelled_pairs(PAIRS, [], search, 2, 10)
    perfect = [float(p.label) for p in pairs]
    assert top1(perfect, pairs) == 1.0
    assert top1([1.0 - s for s in perfect], pairs) == 0.0


def test_features_line_up_with_their_names():
    vectors = FakeEmbedder().embed(["When does PMI end?", "Ending PMI: It ends at 78 percent.", "Cushion: x y z."])
    rows = sentence_features("When does PMI end?", vectors[0], [(1, "Ending PMI", "It ends at 78 percent."),
                                                                (2, "Cushion", "x y z.")], vectors[1:], [0.7, 0.4],
                             AnsweringPolicy())
    assert rows.shape == (2, len(FEATURES))
    named = dict(zip(FEATURES, rows[1]))
    assert named["passage_rank"] == 1 and named["passage_similarity"] == 0.4
    assert dict(zip(FEATURES, rows[0]))["question_words_in_heading"] == 0.5  # "pmi" of {"pmi", "end"}
    assert sentence_features("q", vectors[0], [], vectors[:0], [], AnsweringPolicy()).shape == (0, len(FEATURES))


def test_a_fitted_selector_ranks_answers_first_and_round_trips(tmp_path):
    pairs = labelled_pairs(PAIRS * 3, UNANSWERABLE, search, 2, 10)
    embed = FakeEmbedder().embed
    selector, report = fit_selector(pairs, validation_groups(pairs, 0.5, 0), embed, AnsweringPolicy(),
                                    baseline=hand_weighted_scores)
    assert report["learned"]["top1"] is not None and report["hand_weighted"]["top1"] is not None
    rows, _ = featurize(pairs, embed, AnsweringPolicy())
    scores = selector.score(rows)
    assert top1(scores, pairs) == 1.0, "fitted on these very pairs, the answering sentence leads"
    selector.save(tmp_path / "selector.json")
    again = SentenceSelector.load(tmp_path / "selector.json")
    assert np.allclose(again.score(rows), scores, atol=1e-4)
    assert again.fitted_on["pairs_sha256"] == selector.fitted_on["pairs_sha256"]


def test_a_missing_or_wrong_selector_file_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="rag tune-selector"):
        SentenceSelector.load(tmp_path / "nothing.json")
    (tmp_path / "old.json").write_text(json.dumps({"features": ["cosine"], "weights": [1.0], "bias": 0.0}))
    with pytest.raises(ConfigError, match="not a sentence selector"):
        SentenceSelector.load(tmp_path / "old.json")


def test_highlight_scores_with_the_selector_when_given_one():
    from rag.highlighting import highlight

    selector = SentenceSelector([0.0] * len(FEATURES), 0.0)
    selector.weights[FEATURES.index("question_words_in_sentence")] = 10.0  # prefers the words of the question
    key = highlight("When does the escrow cushion review happen every year?", [PMI, ESCROW],
                    FakeEmbedder().embed, AnsweringPolicy(), selector)
    assert key[0].text == "It reviews the account every year." and 0 <= key[0].score <= 1
