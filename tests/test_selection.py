"""The learned sentence selector: labelled pairs, the leak guard, metrics, and a tiny real training run."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rag.errors import ConfigError
from rag.selection import SentenceSelector
from rag.selection.data import labelled_pairs, validation_groups
from rag.selection.training import SelectorTrainingConfig, roc_auc, top1, train_selector

from .conftest import hit

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


def test_config_cross_checks():
    with pytest.raises(ValueError, match="validation_share"):
        SelectorTrainingConfig(validation_share=1.5)


def test_a_missing_selector_folder_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="rag tune-selector"):
        SentenceSelector(tmp_path / "nothing", encoder=tmp_path)


def _tiny_encoder(folder: Path) -> Path:
    """A 2-layer random BERT with the bundled MiniLM's vocabulary: real training mechanics in seconds."""
    from transformers import BertConfig, BertForSequenceClassification

    from rag.embedding import bundled_embedding_model

    source = bundled_embedding_model()
    folder.mkdir()
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(source / name, folder / name)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


def test_a_tiny_training_run_writes_a_selector_that_scores(tmp_path):
    encoder = _tiny_encoder(tmp_path / "encoder")
    pairs = labelled_pairs(PAIRS * 4, UNANSWERABLE, search, 2, 10)
    config = SelectorTrainingConfig(epochs=2, batch_size=8, max_tokens=48, learning_rate=5e-3)
    card = train_selector(pairs, {pairs[0].group}, encoder, tmp_path / "selector", config,
                          baseline=lambda held: [0.0] * len(held), log=lambda line: None)
    assert [h["epoch"] for h in card["history"]] == [1, 2]
    assert card["pairs"] == len(pairs) and card["validation_baseline"]["auc"] == 0.5
    saved = json.loads((tmp_path / "selector" / "training_card.json").read_text())
    assert saved["pairs_sha256"] == card["pairs_sha256"]
    selector = SentenceSelector(tmp_path / "selector", encoder)
    scores = selector.score(PAIRS[0]["question"], ["Ending PMI: It ends at 78 percent.", "Other text.", "x"])
    assert scores.shape == (3,) and ((scores >= 0) & (scores <= 1)).all()
    assert selector.score("q", []).shape == (0,)
