"""`rag eval` with stand-in models: splits, intervals, lead correctness and the paired A/B difference."""
import json
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

import cli.main
from cli.main import app

from .test_cli_output import FakeKnowledgeBase

runner = CliRunner()


@pytest.fixture()
def questions(tmp_path):
    rows = [{"id": "1", "question": "What do closing costs run?", "answers": ["2% to 5%"],
             "gold_docs": ["closing.md"], "kind": "number", "split": "test"},
            {"id": "2", "question": "When does private mortgage insurance end?", "answers": ["78 percent"],
             "gold_docs": ["pmi.md"], "kind": "number", "split": "tune"},
            {"id": "3", "question": "What is the capital of France?", "answers": [], "gold_docs": [],
             "kind": "unanswerable", "split": "test"}]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


class EvaluatedKnowledgeBase(FakeKnowledgeBase):
    snapshot = SimpleNamespace(vectors=SimpleNamespace(storage="fp32"))  # exact vectors: no recall to report


@pytest.fixture()
def knowledge_base(monkeypatch):
    monkeypatch.setattr(cli.main, "open_knowledge_base",
                        lambda settings, use_adapter=True: EvaluatedKnowledgeBase("Closing costs run 2% to 5% [1]."))


def test_eval_reports_splits_intervals_and_lead(questions, knowledge_base, tmp_path):
    out = tmp_path / "result.json"
    result = runner.invoke(app, ["eval", str(questions), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "split test" in result.stdout and "95 % intervals" in result.stdout
    answers = json.loads(out.read_text())["answers"]
    assert set(answers["by_split"]) == {"test", "tune"}
    assert answers["overall"]["n"] == 3
    records = {r["id"]: r for r in json.loads(out.read_text())["records"]}
    assert records["1"]["correct"] and records["1"]["lead_correct"]
    low, high = answers["intervals"]["correct"]
    assert 0 <= low <= answers["overall"]["correct"] <= high <= 1


def test_eval_of_one_split_and_the_paired_difference(questions, knowledge_base, tmp_path):
    out = tmp_path / "result.json"
    result = runner.invoke(app, ["eval", str(questions), "--split", "test", "--ab", "--out", str(out)])
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text())
    assert [r["id"] for r in saved["records adapter"]] == ["1", "3"]
    assert saved["difference intervals"]["correct"] == [0.0, 0.0]  # the same stand-in answers both times
    assert "Adapter − base" in result.stdout


def test_eval_names_a_wrong_split(questions, knowledge_base):
    result = runner.invoke(app, ["eval", str(questions), "--split", "dev"])
    assert result.exit_code == 2 and "--split must be one of" in result.stderr
