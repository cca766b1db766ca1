"""The bundled evaluation questions (corpora/homeowner-questions.jsonl): well formed, large enough, gold phrases
and evidence that the documents state, and none of them trained or calibrated on (bench/questions/check_bundled.py
does the checking; these tests hold the file to it and show the checker catches each kind of mistake)."""
import importlib.util
import json
import sys
from collections import Counter

import pytest

from .conftest import REPO

spec = importlib.util.spec_from_file_location("check_bundled", REPO / "bench" / "questions" / "check_bundled.py")
check_bundled = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = check_bundled  # its dataclass looks its module up there
spec.loader.exec_module(check_bundled)

QUESTIONS = REPO / "corpora" / "homeowner-questions.jsonl"


@pytest.fixture(scope="module")
def checked():
    return check_bundled.check(QUESTIONS)


def test_the_bundled_questions_pass_every_check(checked):
    report, _ = checked
    assert report.problems == []


def test_counts_kinds_and_coverage(checked):
    report, questions = checked
    kinds = Counter(q["kind"] for q in questions)
    assert len(questions) >= 250
    assert kinds["unanswerable-near-topic"] >= 60
    assert kinds["unanswerable"] >= 10  # off-topic
    assert set(kinds) == check_bundled.KINDS and min(kinds.values()) >= 10
    corpus = {p.relative_to(check_bundled.CORPUS).as_posix() for p in check_bundled.CORPUS.rglob("*") if p.is_file()}
    assert set(report.by_doc) == corpus  # every bundled document is some question's gold document


def test_ids_are_unique_and_the_original_questions_keep_theirs(checked):
    _, questions = checked
    ids = [q["id"] for q in questions]
    assert len(ids) == len(set(ids))
    original = [f"a{n:02d}" for n in range(1, 44)] + [f"b{n:02d}" for n in range(1, 47)]
    original = [i for i in original if i not in ("a32", "b04")]  # removed: they repeated training questions
    assert ids[:len(original)] == original


def test_no_question_is_a_training_or_calibration_question(checked):
    _, questions = checked
    normal = check_bundled.lenient
    trained = {normal(q) for q, _ in check_bundled.other_questions(check_bundled.TRAINED_ON)}
    assert len(trained) > 500  # the training and calibration sets were found
    assert not {normal(q["question"]) for q in questions} & trained


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def row(**fields):
    base = {"id": "t1", "question": "How often should the gutters be cleaned out?", "answers": ["Twice a year"],
            "gold_docs": ["owning/home-maintenance-budget-and-schedule.md"],
            "evidence": "Clean gutters and downspouts, more often if you have many trees.", "kind": "paraphrase"}
    return {**base, **fields}


def problems_of(tmp_path, rows):
    report, _ = check_bundled.check(write(tmp_path / "q.jsonl", rows))
    return report.problems


def test_a_well_formed_question_passes(tmp_path):
    assert problems_of(tmp_path, [row()]) == []


@pytest.mark.parametrize("bad, complaint", [
    (row(answers=["three times a year"]), "is in no chunk"),  # not what the document says
    (row(evidence="Clean the gutters every week."), "evidence"),
    (row(gold_docs=["owning/no-such-file.md"]), "not in corpora/homeowner"),
    (row(kind="two-part"), "unknown kind"),
    (row(kind="multi"), "one gold phrase per part"),
    (row(kind="pdf"), "needs a PDF"),
    (row(kind="unanswerable-near-topic"), "unanswerable question has"),
    (row(answers=[], gold_docs=[], evidence=""), "needs gold phrases"),
    (row(answers=["Clean gutters and downspouts, more often if you have many trees, twice a year"]), "is long"),
    (row(question="What is mortgage forbearance?"), "closely paraphrases"),  # a training question
    (row(question="What is forbearance on a mortgage?"), "closely paraphrases"),  # same content words
    (row(question="Clean gutters and downspouts, more often if you have many trees?"), "copies the corpus"),
    ({"id": "t1", "question": "Gutters?"}, "missing or of the wrong type"),
])
def test_each_kind_of_mistake_is_caught(tmp_path, bad, complaint):
    found = problems_of(tmp_path, [bad])
    assert any(complaint in p for p in found), found


def test_duplicate_ids_and_broken_lines_are_reported_not_raised(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(row()) + "\n" + json.dumps(row()) + "\n{not json\n[1, 2]\n", encoding="utf-8")
    report, questions = check_bundled.check(path)
    assert len(questions) == 2
    assert sum("duplicate id" in p for p in report.problems) == 1
    assert sum("not JSON" in p for p in report.problems) == 1
    assert sum("not a JSON object" in p for p in report.problems) == 1


def test_evidence_from_two_documents_is_checked_part_by_part(tmp_path):
    two = row(kind="multi", answers=["Twice a year", "120 degrees Fahrenheit"],
              gold_docs=["owning/home-maintenance-budget-and-schedule.md", "owning/energy-efficiency-upgrades.md"],
              evidence="Clean gutters and downspouts, more often if you have many trees. / Set your water heater to "
                       "120 degrees Fahrenheit, which is hot enough for most households and reduces standby losses.")
    assert problems_of(tmp_path, [two]) == []
    wrong = {**two, "evidence": two["evidence"].replace("120 degrees", "130 degrees")}
    assert any("evidence" in p for p in problems_of(tmp_path, [wrong]))
