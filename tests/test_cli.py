"""The `rag` command: JSON for scripts, exit codes, one-line errors."""
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cli.main import app

from .conftest import REPO

pytestmark = pytest.mark.slow
runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(map(str, args)))


def test_ingest_search_info_json(small_corpus, tmp_path):
    index = tmp_path / "idx"
    result = run("ingest", small_corpus, "--index", index, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["added"] == 3 and report["failed"] == []

    result = run("search", "what does a home inspector look at", "--index", index, "--k", "2", "--json")
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert payload["query"] == "what does a home inspector look at" and len(payload["hits"]) == 2
    assert {"score", "text", "source", "title", "section", "page"} <= set(payload["hits"][0])
    assert payload["hits"][0]["source"].endswith("inspection.txt")

    result = run("info", "--index", index, "--json")
    assert json.loads(result.stdout)["counts"]["documents"] == 3


def test_partial_failure_exits_1_and_names_the_file(small_corpus, tmp_path):
    (small_corpus / "bad.pdf").write_bytes(b"not a pdf")
    result = run("ingest", small_corpus, "--index", tmp_path / "idx")
    assert result.exit_code == 1
    assert "failed:" in result.stderr and "bad.pdf" in result.stderr


def test_user_mistakes_are_one_line_errors(tmp_path):
    for args in (["ingest", tmp_path / "missing", "--index", tmp_path / "i"],
                 ["search", "escrow", "--index", tmp_path / "no-index"]):
        result = run(*args)
        assert result.exit_code == 2
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        assert "Traceback" not in result.output


def test_an_unknown_training_target_is_refused_before_anything_is_read(tmp_path):
    result = run("tune-data", tmp_path / "missing.jsonl", "--out", tmp_path / "ex.jsonl", "--target", "bogus",
                 "--index", tmp_path / "no-index")
    assert result.exit_code == 2 and "'bogus' is not one of" in result.output and "'support'" in result.output
    assert not (tmp_path / "ex.jsonl").exists()


def test_bad_config_is_a_one_line_error(tmp_path):
    config = tmp_path / "rag.toml"
    config.write_text("[retrieval]\nk = 'lots'\n")
    result = run("--config", config, "search", "x", "--index", tmp_path)
    assert result.exit_code == 2 and "retrieval.k" in result.stderr


def test_console_script_runs_as_a_process(tmp_path):
    process = subprocess.run([sys.executable, "-m", "cli.main", "search", "x", "--index", str(tmp_path / "none")],
                             capture_output=True, text=True, timeout=120)
    assert process.returncode == 2
    assert process.stderr.strip().startswith("error: no index at")


def test_tune_ranker_fits_a_ranker_search_reads_and_refuses_evaluation_files(small_corpus, tmp_path):
    from rag.fusion import LearnedRanker

    index, ranker = tmp_path / "idx", tmp_path / "ranker.json"
    assert run("ingest", small_corpus, "--index", index).exit_code == 0
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("\n".join(json.dumps(p) for p in [
        {"question": "What does the inspector look at?", "doc": "inspection.txt",
         "support": "A general inspector looks at the roof, foundation, plumbing, wiring, heating and cooling, "
                    "windows and the attic."},
        {"question": "How often is escrow reviewed?", "doc": "escrow.md",
         "support": "Once a year the servicer compares what it collected with what it paid out."}]) + "\n")
    result = run("tune-ranker", pairs, "--index", index, "--out", ranker)
    assert result.exit_code == 0, result.output
    assert LearnedRanker.load(ranker).fitted_on["questions"] == 2
    searched = runner.invoke(app, ["search", "what does an inspector check", "--index", str(index), "--json"],
                             env={"RAG_RETRIEVAL__RANKER": str(ranker)})
    assert searched.exit_code == 0 and json.loads(searched.stdout)["hits"][0]["source"].endswith("inspection.txt")

    refused = run("tune-ranker", REPO / "corpora" / "homeowner-questions.jsonl", "--index", index,
                  "--out", tmp_path / "x.json")
    assert refused.exit_code != 0 and "an evaluation question" in refused.output
    assert len(refused.output.strip().splitlines()) == 1 and not (tmp_path / "x.json").exists()
