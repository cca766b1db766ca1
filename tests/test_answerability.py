"""Learned answerability (rag/evidence.py, the gate): the features, calibration on a tiny labelled set, the shipped
model, and that no calibration question repeats an evaluation question."""
import importlib.util
import json
import sys

import pytest

from rag.answering.gate import Gate
from rag.errors import ConfigError, RagError
from rag.evidence import FEATURES, LEAD_SCORE, EvidenceModel, Labelled, calibrate, read_labelled, signals

from .conftest import REPO, FakeEmbedder, hit

CALIBRATION = sorted((REPO / "corpora" / "calibration").glob("*.jsonl"))
EVALUATION = (REPO / "corpora" / "homeowner-questions.jsonl", REPO / "bench" / "questions" / "cfpb.jsonl")


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / "questions" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


FEE = hit("The lender charges an appraisal fee, and you may ask for a copy of the appraisal.", similarity=0.7)
FEE_AMOUNT = hit("The appraisal fee is usually $450 to $600 for a single-family home.", similarity=0.7)


def test_a_figure_asked_for_and_missing_from_the_closest_sentences_is_a_feature():
    question = "How much does the appraisal fee cost?"
    missing = signals(question, [FEE])
    assert missing["figure_asked"] == 1.0 and missing["figure_missing"] == 1.0
    assert signals(question, [FEE_AMOUNT])["figure_missing"] == 0.0
    plain = signals("Can I get a copy of the appraisal?", [FEE])
    assert plain["figure_asked"] == 0.0 and plain["figure_missing"] == 0.0
    # a share wants a percentage, a time wants a duration: "$450" answers neither
    assert signals("What percentage of the price is the appraisal fee?", [FEE_AMOUNT])["figure_missing"] == 1.0
    assert signals("How long does the appraisal take?", [FEE_AMOUNT])["figure_missing"] == 1.0


def test_signals_read_names_currency_and_similarity():
    found = signals("What is the appraisal fee in Ohio today?", [FEE, hit("Other text.", similarity=0.3)])
    assert found["unmatched_names"] == 1.0 and found["asks_current"] == 1.0
    assert found["top_similarity"] == 0.7 and abs(found["mean_similarity_top3"] - 0.5) < 1e-9
    assert LEAD_SCORE not in found
    assert signals("Anything?", [])["top_similarity"] == 0.0


def test_the_lead_score_is_the_best_lead_sentences_score():
    embed = FakeEmbedder().embed
    close = signals("What is the appraisal fee?", [FEE_AMOUNT], embed=embed)[LEAD_SCORE]
    far = signals("What is the appraisal fee?", [hit("Gutters need cleaning twice a year.")], embed=embed)[LEAD_SCORE]
    assert close > far


def labelled_set():
    answerable = [Labelled(f"How much is the appraisal fee for home {n}?", True) for n in range(12)]
    unanswerable = [Labelled(f"How much does a roof replacement cost in town {n}?", False) for n in range(12)]
    return answerable + unanswerable


def fake_search(question, k):
    if "appraisal" in question:
        return [FEE_AMOUNT, FEE][:k]
    return [hit("Replacing the roof is a big project; get several bids.", similarity=0.35)][:k]


@pytest.mark.parametrize("lead", [False, True])
def test_calibration_on_a_tiny_labelled_set_separates_the_classes(lead):
    embed = FakeEmbedder().embed if lead else None
    model = calibrate(fake_search, labelled_set(), max_false_refusal=0.1, embed=embed)
    assert model.features == FEATURES + ((LEAD_SCORE,) if lead else ())
    assert len(model.weights) == len(model.features)
    assert model.fitted_on["false_refusal"] <= 0.1 and model.fitted_on["unanswerable_refused"] == 1.0
    good = model.probability("How much is the appraisal fee?", fake_search("appraisal", 4), embed=embed)
    bad = model.probability("How much does a roof cost?", fake_search("roof", 4), embed=embed)
    assert good > model.threshold > bad
    fixed = calibrate(fake_search, labelled_set(), threshold=0.3, embed=embed)
    assert fixed.threshold == 0.3 and fixed.weights == model.weights  # the threshold chosen on tune is kept


def test_a_model_reading_the_lead_score_loads_back_and_needs_the_embedder(tmp_path):
    embed = FakeEmbedder().embed
    model = calibrate(fake_search, labelled_set(), embed=embed)
    model.save(tmp_path / "lead.json")
    loaded = EvidenceModel.load(tmp_path / "lead.json")
    assert loaded == model and loaded.needs_embed
    with pytest.raises(ConfigError, match="lead sentence's score"):
        Gate(fake_search, loaded, 2, 2, loaded_policy())
    retrieved = Gate(fake_search, loaded, 2, 2, loaded_policy(), embed=embed)("How much is the appraisal fee?")
    assert retrieved.passed


def loaded_policy():
    from rag.policy import AnsweringPolicy

    return AnsweringPolicy()


def test_a_model_on_unknown_features_is_a_one_line_error(tmp_path):
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"features": ["a", "b"], "weights": [1, 2], "bias": 0, "threshold": 0.5}))
    with pytest.raises(ConfigError, match=r"^generation.evidence_model: .*other.json is not an evidence model"):
        EvidenceModel.load(other)


def test_labelled_questions_come_from_question_and_pair_files_never_split_ones(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"question": "Q1?", "answer": "A", "doc": "a.md", "support": "S"}) + "\n"
                     + json.dumps({"question": "Q2?", "kind": "unanswerable"}) + "\n")
    assert read_labelled(pairs) == [Labelled("Q1?", True), Labelled("Q2?", False)]
    split = tmp_path / "eval.jsonl"
    split.write_text(json.dumps({"question": "Q?", "gold_docs": ["a.md"], "split": "tune"}) + "\n")
    with pytest.raises(RagError, match="evaluation question"):
        read_labelled(split)
    for path in EVALUATION:
        with pytest.raises(RagError, match="evaluation question"):
            read_labelled(path)


def test_the_shipped_model_loads_and_was_fitted_on_training_side_data_only():
    model = EvidenceModel.load()
    assert model.features == FEATURES and not model.needs_embed and 0 < model.threshold < 1
    data = " ".join(model.fitted_on["data"])
    assert "calibration" in data and "homeowner-questions" not in data and "bench/questions" not in data
    assert model.probability("How much is the appraisal fee?", [FEE_AMOUNT]) > \
        model.probability("Who won the 1998 World Cup?", [hit("The escrow cushion is one-sixth.", similarity=0.1)])


def test_no_calibration_question_repeats_an_evaluation_question():
    bundled, cfpb = load_script("check_bundled"), load_script("check_questions")
    calibration = bundled.other_questions(tuple(CALIBRATION))
    assert len(calibration) >= 200
    evaluation = [json.loads(line) for path in EVALUATION for line in path.read_text().splitlines() if line.strip()]
    found: list[str] = []
    bundled.check_repeats(evaluation, calibration, found)  # equal, a long common run, or a close paraphrase
    assert found == []
    report = cfpb.Report()
    cfpb.check_repeats(evaluation, tuple(CALIBRATION), report)  # the CFPB checker's stricter near-duplicate rule
    assert report.problems == []
