import dataclasses

import numpy as np
import pytest

from rag.answering import verified
from rag.errors import ConfigError
from rag.evidence import FEATURES, EvidenceModel, features, fit, unmatched_names
from rag.policy import AnsweringPolicy
from rag.types import Hit


def hit(text, similarity):
    return Hit(score=1.0, text=text, source="a.md", title="Escrow", section="Cushion", page=None, chunk_id=1,
               doc_id="d", similarity=similarity)


def test_features_measure_similarity_and_coverage():
    hits = [hit("The escrow cushion is one-sixth of yearly payments.", 0.8), hit("Other text.", 0.4)]
    top, mean, coverage = features("How big is the escrow cushion?", hits)[:3]
    assert top == 0.8 and abs(mean - 0.6) < 1e-9
    assert abs(coverage - 2 / 3) < 1e-9  # "escrow" and "cushion" found, "big" not
    assert features("What is the tax rate in Cook County?", hits)[2] < 0.5
    assert len(features("How big is the escrow cushion?", hits)) == len(FEATURES)


def test_fit_separates_and_bounds_false_refusals():
    rng = np.random.default_rng(0)
    good = [[0.6 + rng.random() * 0.3, 0.5, 0.8 + rng.random() * 0.2] for _ in range(80)]
    bad = [[0.2 + rng.random() * 0.3, 0.3, rng.random() * 0.5] for _ in range(40)]
    model = fit(good + bad, [1] * 80 + [0] * 40, max_false_refusal=0.1, names=("a", "b", "c"))
    assert model.fitted_on["false_refusal"] <= 0.1
    assert model.fitted_on["unanswerable_refused"] >= 0.9


def test_bundled_model_loads():
    model = EvidenceModel.load()
    assert model.fitted_on and 0 < model.threshold < 1
    assert model.probability("How big is the escrow cushion?", [hit("The escrow cushion is one-sixth.", 0.8)]) > \
        model.probability("Who won the 1998 World Cup?", [hit("The escrow cushion is one-sixth.", 0.1)])


def test_verification_rejects_invented_numbers_and_echoes():
    passages = [hit("A servicer must send the payoff balance within 7 business days.", 0.7)]
    question = "How fast must the servicer send a payoff balance?"
    assert verified("The servicer must send it within 7 business days.", question, passages)
    assert not verified("The servicer must send it within 10 business days.", question, passages)
    assert not verified("The servicer must send a payoff balance.", question, passages)
    assert not verified("Lenders love golden retrievers and sailing boats.", question, passages)
    assert not verified("Escrow > Cushion.", "How big is it?", passages)  # the passage's label, repeated


def test_a_name_no_passage_contains_is_unmatched():
    hits = [hit("FHA loan limits vary by county. In California, Proposition 13 caps the tax rate.", 0.7)]
    assert unmatched_names("What is the FHA loan limit for Los Angeles County?", hits) == ["Los", "Angeles"]
    assert unmatched_names("How does California's Proposition 13 limit the tax rate?", hits) == []
    # not names: a question's first word, "I'm", months, acronyms, hyphenated terms
    assert unmatched_names("If I'm closing in April, what FHA limit applies to a Fannie-backed loan?", hits) == []


def test_a_policy_can_list_more_words_that_are_not_names():
    hits = [hit("Closing costs run 2% to 5% of the loan amount.", 0.7)]
    question = "Are closing costs higher on Easter weekend?"
    assert unmatched_names(question, hits) == ["Easter"]
    holidays = dataclasses.replace(AnsweringPolicy(), not_names=AnsweringPolicy().not_names + ("Easter",))
    assert unmatched_names(question, hits, holidays) == []


def test_a_wrong_evidence_model_path_is_a_one_line_error_naming_the_setting(tmp_path):
    with pytest.raises(ConfigError, match=r"^generation.evidence_model: no file at .*missing.json; point"):
        EvidenceModel.load(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"bias": 1}')
    with pytest.raises(ConfigError, match=r"^generation.evidence_model: .*broken.json is not an evidence model"):
        EvidenceModel.load(broken)


def test_a_saved_model_loads_back(tmp_path):
    model = EvidenceModel([1.0, 2.0, 3.0, -1.0, -0.5, -1.5, -2.0], -4.0, 0.3, {"answerable": 5})
    model.save(tmp_path / "m.json")
    assert EvidenceModel.load(tmp_path / "m.json") == model
