"""`rag ask --show-id/--no-log/--json`, `rag feedback` and `rag stats` (stand-in models)."""
import json

import pytest
from typer.testing import CliRunner

import cli.main
import rag.embedding
from cli.main import app
from rag import KnowledgeBase, Settings

from .conftest import FakeEmbedder
from .test_interactions_stats import stand_in

runner = CliRunner()


@pytest.fixture()
def log_path(tmp_path, monkeypatch):
    path = tmp_path / "log.sqlite3"
    monkeypatch.setenv("RAG_LOG__PATH", str(path))
    monkeypatch.setattr(cli.main, "open_knowledge_base", lambda settings, use_adapter=True: stand_in(
        KnowledgeBase(settings=settings), "Closing costs run 2% to 5% of the loan amount [1]."))
    monkeypatch.setattr(rag.embedding, "embedder_from_settings", lambda settings, **_: FakeEmbedder())
    return path


def run(*args):
    return runner.invoke(app, list(map(str, args)))


def test_ask_prints_the_id_on_request_and_in_json(log_path):
    result = run("ask", "How much are closing costs?", "--show-id")
    assert result.exit_code == 0, result.output
    shown = result.stdout.splitlines()[-1]
    assert shown.startswith("id: ") and len(shown) == len("id: ") + 16
    answered = json.loads(run("ask", "How much are closing costs?", "--json").stdout)
    assert answered["id"] and answered["id"] != shown[4:]
    assert json.loads(run("stats", "--json").stdout)["channels"] == {"cli": 2}


def test_no_log_records_nothing(log_path):
    result = run("ask", "How much are closing costs?", "--no-log", "--show-id")
    assert result.exit_code == 0 and result.stdout.splitlines()[-1] == "id: (not logged)"
    assert json.loads(run("ask", "How much are closing costs?", "--no-log", "--json").stdout)["id"] is None
    assert json.loads(run("stats", "--json").stdout)["questions"] == 0


def test_feedback_from_the_command_line(log_path):
    interaction_id = json.loads(run("ask", "How much are closing costs?", "--json").stdout)["id"]
    result = run("feedback", interaction_id, "--bad", "--correction", "2% to 5% of the loan.", "--source",
                 "closing.md#3", "--note", "vague")
    assert result.exit_code == 0, result.output
    assert result.stdout == (f"feedback on {interaction_id}: bad; correction stored (source closing.md#3) "
                             "(judged 1 time)\n")
    verdict = json.loads(run("feedback", interaction_id, "--good", "--json").stdout)
    assert verdict["good"] is True and verdict["count"] == 2 and verdict["correction"] == "2% to 5% of the loan."


@pytest.mark.parametrize("args, named", [
    (["nope", "--good"], "no answer with id 'nope'"),
    (["{id}"], "at least one of good"),
    (["{id}", "--correction", "x", "--source", "file.pdf#zero"], "source must be FILE or FILE#PAGE"),
])
def test_feedback_mistakes_are_one_line(log_path, args, named):
    interaction_id = json.loads(run("ask", "How much are closing costs?", "--json").stdout)["id"]
    result = run("feedback", *[a.format(id=interaction_id) for a in args])
    assert result.exit_code == 2 and named in result.stderr and result.stderr.count("\n") == 1


def test_stats_prints_the_figures_and_the_gaps(log_path):
    for question in ("What is the capital of France?", "What is the capital city of France?",
                     "How much are closing costs?"):
        run("ask", question)
    result = run("stats", "--since", "7d")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith("questions:   3   refused: 66.7%") for line in lines)
    gap = lines.index("corpus gaps (refused or thumbs-down questions, grouped by meaning; write these next):")
    assert lines[gap + 1].split() == ["2x", "2", "questions", "(2", "refused,", "0", "thumbs-down)"]
    assert [line.strip() for line in lines[gap + 2:gap + 4]] == [  # equally asked: in alphabetical order
        "- What is the capital city of France?", "- What is the capital of France?"]


@pytest.mark.parametrize("since", ["yesterday", "7 parsecs", "-3d"])
def test_a_bad_since_is_one_line(log_path, since):
    result = run("stats", "--since", since)
    assert result.exit_code == 2 and "--since" in result.stderr and result.stderr.count("\n") == 1


def test_feedback_and_stats_with_logging_off(tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_LOG__ENABLED", "false")
    for args in (["feedback", "abc", "--good"], ["stats"]):
        result = run(*args)
        assert result.exit_code == 2 and "log is off" in result.stderr


def test_settings_can_turn_the_log_off_for_ask(tmp_path, monkeypatch, log_path):
    monkeypatch.setenv("RAG_LOG__ENABLED", "0")
    assert json.loads(run("ask", "How much are closing costs?", "--json").stdout)["id"] is None
    assert not log_path.exists()
    assert Settings.load().log.enabled is False


def test_a_damaged_log_costs_the_record_not_the_answer(log_path, caplog):
    log_path.write_bytes(b"not a database at all" * 100)
    result = run("ask", "How much are closing costs?", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["id"] is None and "answering without logging" in caplog.text
    feedback = run("feedback", "abc", "--good")
    assert feedback.exit_code == 2 and f"cannot use {log_path}" in feedback.stderr
