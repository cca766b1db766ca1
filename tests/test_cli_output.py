"""What `rag ask`, `rag search` and `rag ingest` print, exactly, with stand-in models (no model is loaded)."""
import re

import numpy as np
import pytest
from typer.testing import CliRunner

import cli.main
from cli.main import app
from cli.output import stream_answer
from rag.answering import Answerer
from rag.prompting import REFUSAL
from rag.settings import MAX_K
from rag.types import Answer

from .conftest import FakeEmbedder, ReplayGenerator, evidence, hit

runner = CliRunner()
PASSAGES = [hit("Closing costs run 2% to 5% of the loan amount. They are listed on the Closing Disclosure.",
                "closing.md", 1, title="Closing costs", section="Closing costs"),
            hit("Private mortgage insurance ends automatically when the balance reaches 78 percent of the "
                "original value.", "pmi.md", 2, title="PMI", section="PMI")]


class FakeKnowledgeBase:
    """Searches PASSAGES by the fake embedder's cosine and answers with the real `Answerer` and a replayed reply."""

    def __init__(self, reply: str):
        self.embedder = FakeEmbedder()
        self.answerer = Answerer(self.search, self.embedder.embed, ReplayGenerator(reply), evidence(0.2), k=2,
                                 context_tokens=2048, max_new_tokens=100)

    def search(self, query, k=None):
        cosines = self.embedder.embed([query]) @ self.embedder.embed([p.text for p in PASSAGES]).T
        order = np.argsort(-cosines[0], kind="stable")[:k]
        return [hit(PASSAGES[i].text, PASSAGES[i].source, PASSAGES[i].chunk_id, PASSAGES[i].title,
                    PASSAGES[i].section, similarity=float(cosines[0][i])) for i in order]

    def ask(self, question, history=None):
        return self.answerer.ask(question, history)

    def stream(self, question, history=None):
        return self.answerer.stream(question, history)


@pytest.fixture()
def replying(monkeypatch):
    def use(reply):
        monkeypatch.setattr(cli.main, "open_knowledge_base",
                            lambda settings, use_adapter=True: FakeKnowledgeBase(reply))
    return use


def test_a_refusal_is_printed_once_with_the_closest_passages(replying):
    replying("Paris is the capital of France [1].")
    result = runner.invoke(app, ["ask", "What is the capital of France?"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        REFUSAL,
        "",
        "Closest passages (not enough to answer):",
        "  - closing.md — Closing costs",
        "  - pmi.md — PMI",
    ]


@pytest.mark.parametrize("reply, text", [
    # the passage's best sentence leads; the model's restatement of it is not printed twice
    ("Private mortgage insurance ends automatically at 78 percent of the original value [1].",
     "The documents say: “Private mortgage insurance ends automatically when the balance reaches 78 percent of "
     "the original value.” [1]"),
    ("The documents don't say.",  # past the evidence gate a decline gives way to the passage's own words
     "The documents say: “Private mortgage insurance ends automatically when the balance reaches 78 percent of "
     "the original value.” [1]"),
])
def test_an_answer_is_printed_with_its_sources(replying, reply, text):
    replying(reply)
    result = runner.invoke(app, ["ask", "When does private mortgage insurance end automatically?"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [text, "", "Sources:", "  [1] PMI — pmi.md — PMI"]  # PMI is retrieved first


def test_an_answer_is_printed_piece_by_piece_as_it_streams(capsys):
    printed_so_far = []

    def events():
        yield "Closing costs run 2% to 5% [1]."
        printed_so_far.append(capsys.readouterr().out)
        yield " They are listed on the Closing Disclosure [1]."
        printed_so_far.append(capsys.readouterr().out)
        yield Answer(question="q", text="…", refused=False)

    answer = stream_answer(events())
    assert printed_so_far == ["Closing costs run 2% to 5% [1].", " They are listed on the Closing Disclosure [1]."]
    assert capsys.readouterr().out == "\n" and not answer.refused


def test_ask_json_prints_the_refusal_once(replying):
    replying("Paris.")
    result = runner.invoke(app, ["ask", "What is the capital of France?", "--json"])
    assert result.exit_code == 0 and result.stdout.count(REFUSAL) == 1 and '"refused": true' in result.stdout


@pytest.mark.parametrize("args", [["ask", ""], ["ask", "   "], ["search", ""], ["search", " \t"]])
def test_a_blank_question_or_query_is_a_usage_error(replying, args):
    replying("unused")
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1 and "is empty" in result.stderr


def test_search_k_is_bounded_by_the_shared_max(replying):
    replying("unused")
    assert runner.invoke(app, ["search", "closing costs", "--k", str(MAX_K + 1)]).exit_code == 2
    result = runner.invoke(app, ["search", "closing costs", "--k", str(MAX_K)])
    assert result.exit_code == 0 and result.stdout.startswith("[1] Closing costs  (score 1.0000, cosine ")


@pytest.mark.parametrize("command", [["ingest", "corpus"], ["refresh"]])
def test_an_internal_error_is_one_line_exit_2_and_a_traceback_file(monkeypatch, tmp_path, command):
    def crash(*args, **kwargs):
        raise ZeroDivisionError("boom\nsecond line")

    monkeypatch.setattr(cli.main.rag, command[0], crash)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    result = runner.invoke(app, command + ["--index", str(tmp_path / "idx")])
    assert result.exit_code == 2
    match = re.fullmatch(r"error: internal error: ZeroDivisionError: boom \(traceback written to (.+)\)\n",
                         result.stderr)
    assert match, result.stderr
    log = match.group(1)
    assert log.startswith(str(tmp_path / "state"))
    text = open(log, encoding="utf-8").read()
    assert "Traceback" in text and "ZeroDivisionError: boom" in text


@pytest.mark.parametrize("generation, message", [
    ('adapter = "{tmp}/no-adapter"', r"generation.adapter: no PEFT adapter at .*no-adapter \(no adapter_config"),
    ('evidence_model = "{tmp}/missing.json"', r"generation.evidence_model: no file at .*missing.json; point "),
    ("context_tokens = 100", r"generation.context_tokens \(100\) must be larger than generation.max_new_tokens "
                             r"\(160\): the prompt needs room too"),
])
def test_a_wrong_setting_is_a_one_line_error_naming_it(tmp_path, generation, message):
    config = tmp_path / "rag.toml"
    config.write_text("[generation]\n" + generation.format(tmp=tmp_path) + "\n")
    result = runner.invoke(app, ["--config", str(config), "ask", "How big is the escrow cushion?"])
    assert result.exit_code == 2, result.output
    assert re.fullmatch(f"error: {message}.*\n", result.stderr), result.stderr
