"""`rag tune-data --feedback`: exactly the expected examples from a judged log, and no evaluation question."""
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli.main
from cli.main import app
from rag import KnowledgeBase, Settings
from rag.interactions import InteractionLog
from rag.prompting import REFUSAL
from rag.settings import LogSettings
from rag.tuning.feedback import feedback_examples, guarded_questions, held_out_feedback, is_held_out, normal_question
from rag.tuning.gate import feedback_questions
from rag.types import Answer, Citation

from .test_interactions_stats import PASSAGES, stand_in

REPO = Path(__file__).resolve().parent.parent
SHARED_EVAL = REPO.parent / "shared" / "eval"
CLOSING, PMI = PASSAGES
EVALUATION_QUESTION = json.loads((REPO / "corpora" / "homeowner-questions.jsonl").read_text().splitlines()[0])[
    "question"]


def knowledge_base(tmp_path, held_out_share=0.0) -> KnowledgeBase:
    settings = Settings.load(overrides={"log.path": str(tmp_path / "log.sqlite3"),
                                        "learning.held_out_share": held_out_share})
    return stand_in(KnowledgeBase(settings=settings), "unused")


def logged(log: InteractionLog, question: str, text: str, refused=False, cited=(1,)) -> str:
    citations = [Citation(n, PASSAGES[n - 1].source, "T", "S", None, n, PASSAGES[n - 1].text) for n in cited]
    answer = Answer(question=question, text=text, refused=refused, citations=[] if refused else citations,
                    hits=list(PASSAGES), search_query=question, model="replay")
    return log.record(answer, channel="http", stages={}, index_version="v")


def judged_log(log: InteractionLog) -> dict[str, str]:
    ids = {
        "good": logged(log, "How much are closing costs?", "Closing costs run 2% to 5% of the loan amount [1]."),
        "good refusal": logged(log, "What is the capital of France?", REFUSAL, refused=True),
        "bad": logged(log, "Is PMI forever?", "PMI never ends [2].", cited=(2,)),
        "corrected with source": logged(log, "When does PMI end?", "It ends at 50 percent [2].", cited=(2,)),
        "corrected from passages": logged(log, "When is PMI over?", "Never [1]."),
        "unsupported": logged(log, "Who pays closing costs?", "The buyer [1]."),
        "quoted": logged(log, "What is on the Closing Disclosure?",
                         "The documents say: “They are listed on the Closing Disclosure.” [1]"),
        "changed mind": logged(log, "Are closing costs 2% to 5%?", "Yes [1]."),
        "evaluation": logged(log, EVALUATION_QUESTION, "Something [1]."),
        "note only": logged(log, "What is escrow?", "Escrow holds money [1]."),
    }
    log.feedback(ids["good"], good=True)
    log.feedback(ids["good refusal"], good=True)
    log.feedback(ids["bad"], good=False)
    log.feedback(ids["corrected with source"], good=False, source="pmi.md",
                 correction="PMI ends automatically when the balance reaches 78 percent of the original value.")
    log.feedback(ids["corrected from passages"],
                 correction="Private mortgage insurance ends when the balance reaches 78 percent of the original "
                            "value.")
    log.feedback(ids["unsupported"], good=False, correction="The seller always pays every closing cost in Texas.")
    log.feedback(ids["quoted"], good=True)
    log.feedback(ids["changed mind"], good=True)
    log.feedback(ids["changed mind"], good=False)
    log.feedback(ids["evaluation"], good=True)
    log.feedback(ids["note only"], note="slow")
    return ids


def test_feedback_yields_exactly_the_expected_examples(tmp_path):
    kb = knowledge_base(tmp_path)
    ids = judged_log(kb.log)
    examples, report = feedback_examples(kb.log, kb, evaluation=guarded_questions(kb.settings))
    got = {e["interaction"]: (e["target"], e["kind"], e["origin"]) for e in examples}
    assert got == {
        ids["good"]: ("Closing costs run 2% to 5% of the loan amount [1].", "answerable", "feedback: thumbs-up"),
        ids["good refusal"]: (REFUSAL, "unanswerable", "feedback: thumbs-up"),
        ids["corrected with source"]: (
            "PMI ends automatically when the balance reaches 78 percent of the original value. [2]", "answerable",
            "feedback: correction"),
        ids["corrected from passages"]: (
            "Private mortgage insurance ends when the balance reaches 78 percent of the original value. [2]",
            "answerable", "feedback: correction"),
        ids["quoted"]: ("They are listed on the Closing Disclosure. [1]", "answerable", "feedback: thumbs-up"),
    }
    assert report.unsupported == [{"id": ids["unsupported"], "question": "Who pays closing costs?",
                                   "correction": "The seller always pays every closing cost in Texas.",
                                   "source": None}]
    assert report.counts == {"correction": 2, "correction no passage supports (left out)": 1,
                             "evaluation question (never trained on)": 1, "note only": 1,
                             "thumbs-down without a correction": 2, "thumbs-up answer": 3}
    example = next(e for e in examples if e["interaction"] == ids["corrected with source"])
    user = example["messages"][-1]["content"]
    assert CLOSING.text in user and PMI.text in user and user.index(CLOSING.text) < user.index(PMI.text)
    assert example["question"] == "When does PMI end?" and example["doc"] == "closing.md"


def test_a_named_source_outside_the_answers_passages_is_searched_for(tmp_path):
    kb = knowledge_base(tmp_path)
    only_closing = Answer(question="When does PMI end?", text="Never [1].", refused=False, hits=[CLOSING],
                          search_query="When does PMI end?", model="replay")
    interaction_id = kb.log.record(only_closing, channel="cli", stages={}, index_version="v")
    kb.log.feedback(interaction_id, correction="PMI ends when the balance reaches 78 percent of the original value.",
                    source="pmi.md")
    (example,), _ = feedback_examples(kb.log, kb)
    assert example["target"].endswith("[2]") and PMI.text in example["messages"][-1]["content"]


def test_duplicates_of_existing_examples_are_left_out(tmp_path):
    kb = knowledge_base(tmp_path)
    ids = judged_log(kb.log)
    examples, report = feedback_examples(kb.log, kb, existing=[{"question": "how much are CLOSING costs"}])
    assert ids["good"] not in {e["interaction"] for e in examples}
    assert report.counts["duplicate of an existing example"] == 1


def test_held_out_feedback_never_trains_and_feeds_the_gate(tmp_path):
    kb = knowledge_base(tmp_path, held_out_share=0.5)
    ids = judged_log(kb.log)
    trained = {e["interaction"] for e in feedback_examples(kb.log, kb)[0]}
    held = {i.id for i in held_out_feedback(kb.log, 0.5)}
    assert held == {i for i in ids.values() if is_held_out(i, 0.5)} and held and not trained & held
    gate_ids = {q.id for q in feedback_questions(held_out_feedback(kb.log, 0.5))}
    assert gate_ids <= held
    if ids["good refusal"] in held:
        assert next(q for q in feedback_questions(held_out_feedback(kb.log, 0.5))
                    if q.id == ids["good refusal"]).gold_docs == []


def test_tune_data_feedback_writes_the_examples_and_a_card_with_counts_by_origin(tmp_path, monkeypatch):
    kb = knowledge_base(tmp_path)
    ids = judged_log(kb.log)
    monkeypatch.setattr(cli.main, "open_knowledge_base", lambda settings, use_adapter=True: kb)
    out = tmp_path / "data" / "examples.jsonl"
    out.parent.mkdir()
    result = CliRunner().invoke(app, ["tune-data", "--feedback", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "left out: the correction on " + ids["unsupported"] in result.stderr
    card = json.loads((out.parent / "DATA_CARD.json").read_text())
    assert card["origin"] == {"feedback: thumbs-up": 3, "feedback: correction": 2} and card["examples"] == 5
    assert card["feedback"]["unsupported_corrections"][0]["id"] == ids["unsupported"]
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(written) == 5 and normal_question(EVALUATION_QUESTION) not in {normal_question(e["question"])
                                                                              for e in written}


def test_tune_data_needs_something_to_build_from(tmp_path):
    result = CliRunner().invoke(app, ["tune-data", "--out", str(tmp_path / "x.jsonl")])
    assert result.exit_code == 2 and "nothing to build from" in result.stderr


@pytest.mark.skipif(not (SHARED_EVAL / "qa_dev.jsonl").is_file(), reason="needs ../shared/eval")
def test_shared_evaluation_questions_never_enter_training_through_feedback(tmp_path):
    """The leak guard on the feedback path: a homeowner who asks an evaluation question word for word and
    approves the answer still does not put it into training data."""
    kb = knowledge_base(tmp_path)
    questions = [json.loads(line)["question"] for line in (SHARED_EVAL / "qa_dev.jsonl").read_text().splitlines()
                 if line.strip()][:5]
    for question in questions:
        kb.log.feedback(logged(kb.log, question, "An answer [1]."), good=True)
    examples, report = feedback_examples(kb.log, kb, evaluation=guarded_questions(kb.settings,
                                                                                  [SHARED_EVAL / "qa_dev.jsonl"]))
    assert examples == [] and report.counts == {"evaluation question (never trained on)": len(questions)}


def test_a_log_from_another_file_is_not_read(tmp_path):
    other = InteractionLog(tmp_path / "other.sqlite3", LogSettings())
    kb = knowledge_base(tmp_path)
    other.feedback(logged(other, "How much are closing costs?", "Closing costs run 2% to 5% [1]."), good=True)
    assert feedback_examples(kb.log, kb)[0] == []


@pytest.mark.slow
def test_a_few_training_steps_on_feedback_examples(tmp_path, monkeypatch):
    """Real passages, the real tokenizer and a real two-step LoRA run on the examples feedback made."""
    import rag
    from rag.generation import resolve_model
    from rag.tuning import TrainingConfig, train

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    kb = rag.open(settings=Settings.load(overrides={"log.path": str(tmp_path / "log.sqlite3"),
                                                    "learning.held_out_share": 0.0}))
    asked = {"How long does a typical home inspection take?": ("good", None),
             "What does an escrow account pay for?": ("correction", "escrow"),
             "Can I deduct my mortgage interest on Mars?": ("good refusal", None)}
    for question, (verdict, topic) in asked.items():
        hits = kb.search(question, kb.settings.generation.passages)
        refused = verdict == "good refusal"
        text = REFUSAL if refused else f"{hits[0].text.split('. ')[0]}. [1]"
        citations = [] if refused else [Citation(1, hits[0].source, hits[0].title, hits[0].section, hits[0].page,
                                                 hits[0].chunk_id, hits[0].text)]
        interaction_id = kb.log.record(Answer(question=question, text=text, refused=refused, citations=citations,
                                              hits=hits, search_query=question, model="m"),
                                       channel="python", stages={}, index_version=kb.snapshot.version)
        if verdict == "correction":
            passage = next(h for h in hits if topic in h.text.lower())
            kb.log.feedback(interaction_id, good=False, correction=passage.text.split(". ")[0] + ".")
        else:
            kb.log.feedback(interaction_id, good=True)
    examples, report = feedback_examples(kb.log, kb, evaluation=guarded_questions(kb.settings))
    assert report.counts.get("thumbs-up answer") == 2 and report.counts.get("correction") == 1, report.counts
    card = train(examples, resolve_model(""), tmp_path / "adapter",
                 TrainingConfig(max_steps=2, accumulation=1, validation_share=0.34, validate_every=1, top_layers=1))
    assert card["steps"] == 2 and (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
