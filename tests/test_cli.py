"""The `rag` command: JSON for scripts, exit codes, one-line errors."""
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cli.main import app

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
