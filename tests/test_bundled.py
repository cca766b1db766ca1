"""The bundled corpus, its question files and the shipped default index stay in step."""
import hashlib
import json

import pytest
from typer.testing import CliRunner

from cli.main import app
from rag.evaluation import lenient, read_questions
from rag.index import IndexStore
from rag.loaders import load_document
from rag.scanning import resolve_stored

from .conftest import REPO

CORPUS = REPO / "corpora" / "homeowner"
INDEX = REPO / "indexes" / "homeowner"


def test_corpus_size_and_formats():
    files = [p for p in CORPUS.rglob("*") if p.is_file()]
    assert len(files) >= 40
    assert {p.suffix for p in files} == {".md", ".txt", ".html", ".pdf"}
    assert len([p for p in files if p.suffix == ".pdf"]) >= 2


def test_shipped_index_matches_the_corpus():
    folder = IndexStore(INDEX).current_dir()
    manifest = json.loads((folder / "manifest.json").read_text())
    on_disk = {p.resolve(): hashlib.sha256(p.read_bytes()).hexdigest() for p in CORPUS.rglob("*") if p.is_file()}
    indexed = {resolve_stored(s, INDEX).resolve(): v["sha256"] for s, v in manifest["sources"].items()}
    assert indexed == on_disk, "rebuild with: rag ingest corpora/homeowner --index indexes/homeowner"


def test_question_files_point_at_real_text():
    questions = read_questions(REPO / "corpora" / "homeowner-questions.jsonl")
    assert len(questions) >= 40 and any(not q.answerable for q in questions)
    texts = {}
    for q in questions:
        for gold in q.gold_docs:
            path = CORPUS / gold
            assert path.is_file(), gold
            texts.setdefault(gold, f" {lenient(load_document(path).text)} ")
        if q.answerable:  # matched as `rag eval` matches an answer
            assert all(any(f" {lenient(a)} " in texts[g] for g in q.gold_docs) for a in q.answers), q.id


@pytest.mark.slow
def test_eval_command_reports_retrieval(tmp_path):
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(app, ["eval", str(REPO / "corpora" / "homeowner-questions.jsonl"),
                                      "--retrieval-only", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "hit@5" in result.stdout and "overall" in result.stdout
    overall = json.loads(out.read_text())["retrieval"]["overall"]
    assert overall["n"] >= 40 and overall["hit@5"] >= 0.9
