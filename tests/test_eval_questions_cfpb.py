"""The CFPB evaluation questions (bench/questions/cfpb.jsonl) and their mechanical check.

The corpus checks (gold phrases in the gold documents, no question copying the corpus) need
../shared/eval/corpus and are skipped without it; the rest runs everywhere.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from rag.evaluation import read_questions

ROOT = Path(__file__).resolve().parent.parent
CHECKER = ROOT / "bench" / "questions" / "check_questions.py"
QUESTIONS = ROOT / "bench" / "questions" / "cfpb.jsonl"
CORPUS = ROOT.parent / "shared" / "eval" / "corpus"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/eval/corpus is absent")


def _load_checker():
    spec = importlib.util.spec_from_file_location("check_questions", CHECKER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


checker = _load_checker()


def _lines() -> list[dict]:
    return [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_file_is_what_rag_eval_reads():
    questions = read_questions(QUESTIONS)
    assert len(questions) == len(_lines())
    assert all(q.answerable == (q.kind in checker.ANSWERABLE_KINDS) for q in questions)


def test_ids_unique_kinds_known_and_fields_consistent():
    report = checker.Report()
    checker.check_fields(_lines(), report)
    assert report.problems == []


def test_counts_meet_the_issue():
    kinds = Counter(data["kind"] for data in _lines())
    assert sum(kinds.values()) >= 300
    assert kinds["unanswerable-near-topic"] >= 80
    assert kinds["unanswerable-off-topic"] >= 10
    assert kinds["pdf"] >= 40
    assert kinds["two-part"] >= 30
    assert {"heading", "paraphrase", "definition", "number", "procedure"} <= set(kinds)


def test_no_question_repeats_a_training_or_bundled_question():
    report = checker.Report()
    checker.check_repeats(_lines(), checker.OTHER_QUESTION_FILES, report)
    assert report.problems == []


@needs_corpus
def test_gold_phrases_occur_in_gold_documents_and_questions_do_not_copy_the_corpus():
    report = checker.check(QUESTIONS, CORPUS)
    assert report.problems == []
    assert len(set(report.by_doc)) >= 0.9 * len(report.documents)  # spread over (nearly) every document


# The checker itself: each rule catches what it is for, on a tiny corpus of our own.

def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def tiny_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "escrow.md").write_text("# Escrow\n\nThe servicer must refund a surplus of 50 dollars or more "
                                      "within 30 days of the escrow analysis.\n", encoding="utf-8")
    return corpus


def _question(**fields) -> dict:
    row = {"id": "x1", "question": "How soon is an escrow overage paid back to me?", "answers": ["within 30 days"],
           "gold_docs": ["escrow.md"], "kind": "number"}
    return {**row, **fields}


def test_checker_accepts_a_good_question(tmp_path, tiny_corpus):
    report = checker.check(_write(tmp_path / "q.jsonl", [_question()]), tiny_corpus, other_files=())
    assert report.problems == []
    assert report.by_kind == {"number": 1} and report.by_doc == {"escrow.md": 1}


@pytest.mark.parametrize("row, says", [
    (_question(answers=["within 45 days"]), "in none of its gold documents"),
    (_question(gold_docs=["missing.md"]), "not in the corpus"),
    (_question(question="Must the servicer refund a surplus of 50 dollars or more within 30 days?"),
     "copies the corpus words"),
    (_question(kind="trivia"), "unknown kind"),
    (_question(kind="unanswerable-near-topic"), "unanswerable question has"),
    (_question(kind="two-part"), "one gold phrase per part"),
    (_question(question="Is it paid back within 30 days?"), "in the question itself"),
    ({"id": "x1", "question": "No answers field"}, "missing field"),
])
def test_checker_names_each_problem(tmp_path, tiny_corpus, row, says):
    report = checker.check(_write(tmp_path / "q.jsonl", [row]), tiny_corpus, other_files=())
    assert any(says in problem for problem in report.problems), report.problems


def test_checker_finds_duplicate_ids_and_repeated_questions(tmp_path, tiny_corpus):
    other = _write(tmp_path / "training.jsonl", [{"question": "How quickly is an escrow overage paid back to me?"}])
    rows = [_question(), _question(question="Who refunds an escrow surplus?", answers=["The servicer"])]
    report = checker.check(_write(tmp_path / "q.jsonl", rows), tiny_corpus, other_files=(other,))
    assert any("duplicate id" in p for p in report.problems)
    assert any(p.startswith("x1: repeats a question of training.jsonl") for p in report.problems)


def test_checker_reports_a_malformed_file_in_one_line(tmp_path, tiny_corpus):
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "x1", \n[1, 2]\n', encoding="utf-8")
    report = checker.check(path, tiny_corpus, other_files=())
    assert [p.split(":")[0] for p in report.problems] == ["q.jsonl", "q.jsonl"]


def test_corpus_checks_are_skipped_without_the_corpus(tmp_path):
    report = checker.check(_write(tmp_path / "q.jsonl", [_question(answers=["not in any document"])]),
                           tmp_path / "absent", other_files=())
    assert report.problems == [] and report.skipped
