"""Promotion behind the evaluation gate, the atomic switch of the adapter in use, and rollback."""
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import rag.tuning.gate
from cli.main import app
from rag.errors import RagError
from rag.bundled import bundled
from rag.evaluation import Question, read_questions
from rag.settings import Settings, _bundled_adapter
from rag.tuning.gate import gate_questions, run_gate
from rag.tuning.registry import AdapterRegistry, promoted_adapter

runner = CliRunner()
IN_USE = {"correct": 0.70, "citation_precision": 0.80, "unanswerable_refused": 1.0, "false_refusal": 0.05}
QUESTIONS = {"held-out questions": [Question("q1", "How much are closing costs?", ["2%"], ["closing.md"], "x")],
             "held-out feedback": [Question("f1", "When does PMI end?", [], ["pmi.md"], "feedback")]}


@pytest.fixture(autouse=True)
def data_folder(tmp_path, monkeypatch):
    """A per-user data folder of the test's own: the registry and log of the person running tests stay untouched."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data" / "rag"


def adapter(folder, weights: bytes):
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text('{"r": 8}')
    (folder / "adapter_model.safetensors").write_bytes(weights)
    return folder


def fixed(figures: dict):
    """An evaluation that needs no model: each adapter's figures, by folder name ("" is the adapter in use)."""
    return lambda adapter, questions: figures.get(str(adapter).rsplit("/", 1)[-1], IN_USE)


@pytest.mark.parametrize("candidate, passed, failing", [
    (IN_USE, True, []),
    ({**IN_USE, "correct": 0.69}, True, []),  # within the margin
    ({**IN_USE, "correct": 0.90, "false_refusal": 0.0}, True, []),
    ({**IN_USE, "correct": 0.60}, False, ["correct"]),
    ({**IN_USE, "citation_precision": 0.5, "false_refusal": 0.2}, False, ["citation_precision", "false_refusal"]),
    ({**IN_USE, "unanswerable_refused": 0.5}, False, ["unanswerable_refused"]),
])
def test_the_gate_refuses_a_worse_candidate_and_accepts_an_equal_or_better_one(candidate, passed, failing):
    verdict = run_gate("cand", "in-use", QUESTIONS, 0.02, fixed({"cand": candidate}))
    assert verdict.passed is passed
    assert sorted({f.split(" ")[0] for f in verdict.failures}) == sorted(failing)
    assert verdict.figures["held-out questions"]["correct"] == {"candidate": candidate["correct"], "in_use": 0.70}
    assert "correct" not in verdict.figures["held-out feedback"]  # feedback has no gold phrases: not gated on it


def test_the_gate_questions_are_a_fixed_third_of_the_bundled_tune_split_by_default():
    tune = [q for q in read_questions(bundled("corpora/homeowner-questions.jsonl")) if q.split == "tune"]
    questions = gate_questions(Settings.load())
    assert questions == tune[::3][:30] and len(questions) == 30
    assert gate_questions(Settings.load(overrides={"learning.gate_limit": 0})) == tune[::3]
    assert all(q.split == "tune" for q in questions), "the frozen test split never chooses an adapter"


def test_promote_switches_the_adapter_in_use_and_rollback_restores_the_previous(tmp_path, data_folder):
    registry = AdapterRegistry()
    first, second = adapter(tmp_path / "first", b"one"), adapter(tmp_path / "second", b"two")
    assert Settings.load().generation.adapter == _bundled_adapter() and promoted_adapter() == ""
    one = registry.promote(first, None, forced=False)
    assert Settings.load().generation.adapter == str(one) and one.parent == data_folder / "adapters"
    two = registry.promote(second, {"passed": True}, forced=False)
    assert Settings.load().generation.adapter == str(two)
    (second / "adapter_model.safetensors").write_bytes(b"retrained in place")  # the promoted copy stays as it was
    assert (two / "adapter_model.safetensors").read_bytes() == b"two"
    assert Settings.load(overrides={"generation.adapter": ""}).generation.adapter == ""  # an explicit setting wins
    assert registry.rollback() == one.name and Settings.load().generation.adapter == str(one)
    assert registry.rollback() == "" and Settings.load().generation.adapter == _bundled_adapter()
    with pytest.raises(RagError, match="nothing to roll back"):
        registry.rollback()
    history = [json.loads(line) for line in (registry.root / "history.jsonl").read_text().splitlines()]
    assert [h["action"] for h in history] == ["promote", "promote", "rollback", "rollback"]
    assert not [p for p in registry.root.iterdir() if p.name.startswith(".")]  # no half-written pointer or copy


def test_promoting_the_same_weights_twice_keeps_one_copy(tmp_path):
    registry = AdapterRegistry()
    candidate = adapter(tmp_path / "cand", b"w")
    assert registry.promote(candidate, None, False) == registry.promote(candidate, None, False)
    assert len(registry.entries()) == 1 and registry.entries()[0]["in_use"]


def test_a_damaged_pointer_falls_back_to_the_bundled_adapter_and_is_named(data_folder):
    (data_folder / "adapters").mkdir(parents=True)
    (data_folder / "adapters" / "CURRENT.json").write_text("{half")
    assert Settings.load().generation.adapter == _bundled_adapter()
    with pytest.raises(RagError, match="CURRENT.json is unreadable"):
        AdapterRegistry().current()


def promote(*args):
    return runner.invoke(app, ["adapters", "promote", *map(str, args)])


def test_cli_promote_refuses_a_worse_adapter_naming_the_figures_then_force_and_rollback(tmp_path, monkeypatch):
    worse, equal = adapter(tmp_path / "worse", b"worse"), adapter(tmp_path / "equal", b"equal")
    figures = {"worse": {**IN_USE, "correct": 0.40}, "equal": IN_USE}
    monkeypatch.setattr(rag.tuning.gate, "knowledge_base_evaluation", lambda settings, opener: fixed(figures))

    result = promote(worse)
    assert result.exit_code == 1
    assert "correct on held-out questions: candidate 0.400 vs in use 0.700" in result.stderr
    assert promoted_adapter() == ""

    result = promote(equal)
    assert result.exit_code == 0, result.output
    assert "promoted:" in result.stdout and Path(promoted_adapter()).name.startswith("equal-")

    result = promote(worse, "--force")
    assert result.exit_code == 0 and "warning: promoting" in result.stderr
    history = (AdapterRegistry().root / "history.jsonl").read_text().splitlines()
    assert json.loads(history[-1])["forced"] is True and json.loads(history[-1])["gate"]["failures"]

    result = runner.invoke(app, ["adapters", "rollback"])
    assert result.exit_code == 0 and "equal-" in result.stdout and "equal-" in promoted_adapter()
    listed = json.loads(runner.invoke(app, ["adapters", "list", "--json"]).stdout)
    assert [a["in_use"] for a in listed["adapters"]] == [True, False]


def test_cli_promote_of_something_that_is_not_an_adapter_is_one_line(tmp_path):
    result = promote(tmp_path / "nothing")
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
