"""The evaluation splits: assigned by a fixed seed, stratified, frozen (a changed test question fails here)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.errors import RagError
from rag.evaluation import (AnswerRecord, Question, assign_splits, bootstrap_intervals, read_questions,
                            select_split, split_fingerprint, summarize)
from rag.text import first_sentence

REPO = Path(__file__).resolve().parents[1]
RECORD = json.loads((REPO / "bench" / "questions" / "splits.json").read_text())


@pytest.mark.parametrize("name", sorted(RECORD))
def test_the_test_split_is_frozen(name):
    questions = read_questions(REPO / name)
    assert all(q.split in ("tune", "test") for q in questions), "every question belongs to a split"
    assert split_fingerprint(questions, "test") == RECORD[name]["test_fingerprint"], (
        f"the frozen test split of {name} changed; test questions must not be edited after the split")
    test = sum(q.split == "test" for q in questions)
    assert test == RECORD[name]["test"] and test >= 0.4 * len(questions)


def _questions(n_per_kind=10, kinds=("a", "b", "c")):
    return [Question(f"{kind}{i}", f"q {kind}{i}", ["x"], ["d.md"], kind) for kind in kinds
            for i in range(n_per_kind)]


def test_splits_are_seeded_stratified_and_keep_old_assignments():
    questions = _questions()
    first = assign_splits(questions, seed=7, test_share=0.4)
    assert first == assign_splits(questions, seed=7, test_share=0.4)
    assert first != assign_splits(questions, seed=8, test_share=0.4)
    for kind in "abc":
        assert sum(first[q.id] == "test" for q in questions if q.kind == kind) == 4
    for q in questions:
        q.split = first[q.id]
    grown = questions + [Question(f"a{i}", "new", ["x"], ["d.md"], "a")
                          for i in range(10, 20)]
    again = assign_splits(grown, seed=7, test_share=0.4)
    assert all(again[q.id] == first[q.id] for q in questions), "old questions keep their split"
    assert sum(again[q.id] == "test" for q in grown if q.kind == "a") == 8


def test_fingerprint_changes_when_a_test_question_changes():
    questions = _questions()
    for q, split in zip(questions, ["test", "tune"] * 15):
        q.split = split
    before = split_fingerprint(questions)
    questions[1].question = "edited tune question"
    assert split_fingerprint(questions) == before
    questions[0].answers = ["changed"]
    assert split_fingerprint(questions) != before


def test_select_split_and_bad_split_values(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"id": "1", "question": "q", "split": "test"}) + "\n"
                    + json.dumps({"id": "2", "question": "r", "split": "tune"}) + "\n")
    questions = read_questions(path)
    assert [q.id for q in select_split(questions, "test")] == ["1"]
    assert len(select_split(questions, "all")) == 2
    with pytest.raises(RagError, match="--split must be one of"):
        select_split(questions, "dev")
    path.write_text(json.dumps({"id": "1", "question": "q", "split": "holdout"}) + "\n")
    with pytest.raises(RagError, match="q.jsonl:1: split must be one of"):
        read_questions(path)
    for bad in ({"question": 5}, {"question": "q", "answers": "3%"}, {"question": "q", "gold_docs": [1]}):
        path.write_text(json.dumps(bad) + "\n")
        with pytest.raises(RagError, match="q.jsonl:1: 'question' must be text"):
            read_questions(path)


def _record(i, correct, answerable=True, refused=False, split=""):
    return AnswerRecord(id=str(i), kind="k", answerable=answerable, refused=refused, correct=correct,
                        phrase_recall=float(correct), cited=1, cited_gold=int(correct), retrieval_rank=1,
                        seconds=0.1, text="x.", split=split, lead_correct=correct, words=5)


def test_bootstrap_interval_holds_the_rate_and_narrows_with_more_questions():
    small = [_record(i, i % 2 == 0) for i in range(20)]
    large = [_record(i, i % 2 == 0) for i in range(400)]
    low, high = bootstrap_intervals(small)["correct"]
    assert low < 0.5 < high
    low_large, high_large = bootstrap_intervals(large)["correct"]
    assert high_large - low_large < high - low
    assert bootstrap_intervals(small)["unanswerable_refused"] is None  # no unanswerable question


def test_paired_difference_of_one_question_is_noise():
    a = [_record(i, i < 30) for i in range(40)]
    b = [_record(i, i < 29) for i in range(40)]
    low, high = bootstrap_intervals(a, other=b)["correct"]
    assert low <= 0 <= high
    c = [_record(i, i < 5) for i in range(40)]
    low, high = bootstrap_intervals(a, other=c)["correct"]
    assert low > 0
    with pytest.raises(ValueError):
        bootstrap_intervals(a, other=list(reversed(b)))


def test_summary_reports_each_split_with_intervals():
    records = [_record(i, i % 3 != 0, split="test" if i % 2 else "tune") for i in range(30)]
    summary = summarize(records)
    assert set(summary["by_split"]) == {"test", "tune"}
    assert summary["by_split"]["test"]["overall"]["n"] == 15
    assert summary["intervals"]["correct"][0] <= summary["overall"]["correct"] <= summary["intervals"]["correct"][1]


def test_lead_sentence_keeps_quote_and_markers():
    assert first_sentence("The documents say: “It is 3%.” [1] “More here.” [2]") == \
        "The documents say: “It is 3%.” [1]"
    assert first_sentence("PMI ends at 78% [2]. It can end sooner [1].") == "PMI ends at 78% [2]."
    assert first_sentence("Rates are 3.5% today. Next.") == "Rates are 3.5% today."
    assert first_sentence("no full stop") == "no full stop"
