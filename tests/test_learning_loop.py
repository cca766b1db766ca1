"""The learning loop end to end, at small scale: 20 questions through the HTTP API, feedback posted as a homeowner
would, the corpus gaps in `GET /stats` and `rag stats`, `rag tune-data --feedback` giving exactly the expected
examples, the evaluation gate refusing a worse adapter and accepting an equal one, and rollback.

The fast test answers with the stand-in models of conftest.py (tests/fake_model_server.py); what an adapter
changes is stood in for by what the gate's evaluation answers with. The slow test trains a real adapter for a
few steps from the examples and puts it through the real gate with the real models.
"""
import json
import re
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import rag.tuning.gate
from cli import main as cli_main
from cli.main import app
from rag.evaluation import evaluate_answers
from rag.prompting import REFUSAL
from rag.settings import Settings, _bundled_adapter
from rag.tuning.registry import AdapterRegistry, promoted_adapter

from .conftest import FIXTURES, evidence
from .fake_model_server import build_index, fake_models, serving

runner = CliRunner()
CHAT = "/v1/chat/completions"

# question -> what the homeowner says about its answer (None: nothing). The stand-in models answer the
# corpus' questions with quotes and refuse the others; two of the refusals are of questions the corpus answers.
GOOD, BAD = {"rating": "good"}, {"rating": "bad"}
INSPECTION_TIME = "The visit usually takes two to four hours for an average house."
SURPLUS = "A surplus of $50 or more is refunded to you."
FLOAT_DOWN = "A float down lets you take a lower rate if market rates fall after you lock."
FAUCET = "Shut off the water under the sink and replace the worn cartridge."
PLAN = {
    "What is an escrow account?": BAD,  # answered with the cushion: wrong, and nothing better offered
    "What does the servicer pay from escrow?": GOOD,
    "How often does the servicer review the escrow account?": None,
    "What happens with an escrow surplus?": {**BAD, "correction": SURPLUS, "source": "corpus/escrow.md"},
    "What is the escrow cushion?": GOOD,  # then changes their mind (below)
    "What does a home inspector check?": GOOD,
    "How long does a home inspection take?": {**BAD, "correction": INSPECTION_TIME,
                                              "source": "corpus/inspection.txt"},
    "How much does a home inspection cost?": GOOD,
    "Are radon checks included in a general inspection?": {"note": "right, but it took a while"},
    "What is a rate lock?": GOOD,
    "When should I lock my rate?": BAD,
    "What is a lock period?": GOOD,
    "What is a float down?": {"correction": FLOAT_DOWN},  # no source: grounded on the best retrieved passage
    "Who won the 1998 World Cup?": GOOD,  # refusing it was right
    "Which country won the World Cup in 1998?": None,
    "Who won the World Cup in 1998?": None,
    "How do I bake sourdough bread?": BAD,
    "What temperature should sourdough bread bake at?": None,
    "How do I repair a leaking faucet?": {**BAD, "correction": FAUCET},  # no passage supports it
    "What is the capital of France?": GOOD,
}
REFUSED = {"Who won the 1998 World Cup?",
           "Which country won the World Cup in 1998?", "Who won the World Cup in 1998?",
           "How do I bake sourdough bread?", "What temperature should sourdough bread bake at?",
           "How do I repair a leaking faucet?", "What is the capital of France?"}
THUMBS_UP_ANSWERS = {"What does the servicer pay from escrow?", "What does a home inspector check?",
                     "How much does a home inspection cost?", "What is a rate lock?", "What is a lock period?"}
# The evaluation gate's own questions (never trained on): a fixed file of this test's, on the fixture corpus.
GATE_QUESTIONS = [
    {"id": "g1", "question": "Who pays property taxes from an escrow account?", "answers": ["servicer"],
     "gold_docs": ["corpus/escrow.md"], "kind": "paraphrase"},
    {"id": "g2", "question": "What does a general home inspector look at?", "answers": ["roof"],
     "gold_docs": ["corpus/inspection.txt"], "kind": "paraphrase"},
    {"id": "g3", "question": "What is a rate lock from a lender?", "answers": ["interest rate"],
     "gold_docs": ["corpus/rate-lock.html"], "kind": "paraphrase"},
    {"id": "g4", "question": "Who painted the Mona Lisa?", "answers": [], "gold_docs": [], "kind": "unanswerable"},
]


@pytest.fixture(autouse=True)
def data_folder(tmp_path, monkeypatch):
    """The per-user data folder (adapter registry) of the test's own."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data" / "rag"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    return build_index(tmp_path_factory.mktemp("loop-index"))


def config_file(folder: Path, index: Path, log: Path, **sections) -> Path:
    """A TOML settings file for the CLI: this index and log, feedback never held out, the test's gate questions."""
    questions = folder / "gate-questions.jsonl"
    questions.write_text("".join(json.dumps(q) + "\n" for q in GATE_QUESTIONS))
    lines = [f'index = "{index}"', "[log]", f'path = "{log}"', "[learning]", "held_out_share = 0.0",
             f'gate_questions = "{questions}"']
    for section, values in sections.items():
        lines += [f"[{section}]"] + [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path = folder / "rag.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def ask_everything(live) -> dict[str, dict]:
    """Each PLAN question through the API, by turns /ask, a chat completion, a streamed one; id, text, refused."""
    from openai import OpenAI

    client = OpenAI(base_url=f"{live.url}/v1", api_key="unused")
    answers = {}
    with httpx.Client(base_url=live.url, timeout=60) as http:
        for number, question in enumerate(PLAN):
            messages = [{"role": "user", "content": question}]
            if number % 3 == 0:
                body = http.post("/ask", json={"question": question}).json()
                answers[question] = {"id": body["id"], "text": body["text"], "refused": body["refused"]}
            elif number % 3 == 1:
                completion = client.chat.completions.create(model="rag", messages=messages)
                answers[question] = {"id": completion.id, "text": completion.choices[0].message.content,
                                     "refused": completion.model_dump()["refused"]}
            else:
                chunks = list(client.chat.completions.create(model="rag", messages=messages, stream=True))
                answers[question] = {"id": chunks[-1].id, "refused": chunks[-1].model_dump()["refused"],
                                     "text": "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)}
    return answers


def give_feedback(live, answers: dict[str, dict]) -> None:
    with httpx.Client(base_url=live.url, timeout=60) as http:
        for question, fields in PLAN.items():
            if fields is not None:
                response = http.post("/feedback", json={"id": answers[question]["id"], **fields})
                assert response.status_code == 200, (question, response.text)
        changed = http.post("/feedback", json={"id": answers["What is the escrow cushion?"]["id"], **BAD})
        assert changed.json()["good"] is False and changed.json()["count"] == 2


def test_the_loop_from_http_questions_to_a_promoted_adapter(index, tmp_path, monkeypatch):
    log = tmp_path / "interactions.sqlite3"
    with serving(index, log) as (kb, live):
        answers = ask_everything(live)
        assert {q for q, a in answers.items() if a["refused"]} == REFUSED
        assert len({a["id"] for a in answers.values()}) == 20 and kb.log.count() == 20
        assert all(kb.log.get(a["id"]).channel == "http" for a in answers.values())
        give_feedback(live, answers)
        http_stats = httpx.get(f"{live.url}/stats", params={"since": "1d"}, timeout=60).json()

    # the corpus gaps: refused or thumbs-down questions, grouped by meaning
    # "judged" counts ratings: a note or a correction alone is no rating
    assert (http_stats["questions"], http_stats["refused"], http_stats["judged"]) == (20, 7, 14)
    assert http_stats["thumbs_down"] == 7 and http_stats["corrections"] == 4
    gaps = {tuple(sorted(g["examples"])): g for g in http_stats["gaps"]}
    world_cup = ("Which country won the World Cup in 1998?", "Who won the 1998 World Cup?",
                 "Who won the World Cup in 1998?")
    sourdough = ("How do I bake sourdough bread?", "What temperature should sourdough bread bake at?")
    assert gaps[world_cup]["count"] == 3 and gaps[world_cup]["refused"] == 3
    assert gaps[sourdough]["count"] == 2 and gaps[sourdough]["thumbs_down"] == 1
    down = {"What is an escrow account?", "When should I lock my rate?", "How long does a home inspection take?",
            "What is the escrow cushion?", "What happens with an escrow surplus?"}
    assert {q for g in http_stats["gaps"] for q in g["examples"]} == REFUSED | down
    assert sum(g["count"] for g in http_stats["gaps"]) == len(REFUSED | down)

    config = config_file(tmp_path, index, log)
    with fake_models():
        monkeypatch.setattr("rag.embedding.embedder_from_settings", lambda settings, **_: kb.embedder)
        cli_stats = runner.invoke(app, ["--config", str(config), "stats", "--since", "1d", "--json"])
        assert cli_stats.exit_code == 0, cli_stats.output
        assert json.loads(cli_stats.stdout)["gaps"] == http_stats["gaps"]

        # feedback -> training data, exactly
        monkeypatch.setattr(cli_main, "open_knowledge_base",
                            lambda settings, use_adapter=True: cli_main.rag.open(settings.index, settings))
        out = tmp_path / "data" / "feedback.jsonl"
        out.parent.mkdir(parents=True, exist_ok=True)
        made = runner.invoke(app, ["--config", str(config), "tune-data", "--feedback", "--out", str(out)])
    assert made.exit_code == 0, made.output
    assert f"left out: the correction on {answers['How do I repair a leaking faucet?']['id']}" in made.stderr
    examples = {e["question"]: e for e in map(json.loads, out.read_text().splitlines())}
    assert set(examples) == THUMBS_UP_ANSWERS | {"Who won the 1998 World Cup?", "What is the capital of France?",
                                                 "How long does a home inspection take?",
                                                 "What happens with an escrow surplus?", "What is a float down?"}
    for question in THUMBS_UP_ANSWERS:  # the answer as given: its quoted sentences, cited
        example = examples[question]
        assert (example["origin"], example["kind"]) == ("feedback: thumbs-up", "answerable")
        assert example["interaction"] == answers[question]["id"] and "[1]" in example["target"]
        for sentence in re.sub(r"\s*\[\d+\]", "", example["target"]).split(". "):
            assert sentence.strip(" .") in answers[question]["text"], (question, sentence)
    for question in ("Who won the 1998 World Cup?", "What is the capital of France?"):
        assert (examples[question]["target"], examples[question]["kind"]) == (REFUSAL, "unanswerable")
    for question, correction, document in (("How long does a home inspection take?", INSPECTION_TIME, "inspection"),
                                           ("What happens with an escrow surplus?", SURPLUS, "escrow"),
                                           ("What is a float down?", FLOAT_DOWN, "rate-lock")):
        example = examples[question]
        assert (example["origin"], example["kind"]) == ("feedback: correction", "answerable")
        cited = int(example["target"].removeprefix(correction).strip(" []"))  # "<correction> [n]"
        passages = example["messages"][-1]["content"]
        assert f"[{cited}]" in passages and example["target"] == f"{correction} [{cited}]"
        assert document in example["doc"] or document in passages
    card = json.loads((out.parent / "DATA_CARD.json").read_text())
    assert card["origin"] == {"feedback: thumbs-up": 7, "feedback: correction": 3} and card["examples"] == 10
    assert [u["question"] for u in card["feedback"]["unsupported_corrections"]] == ["How do I repair a leaking faucet?"]

    # the gate: a worse candidate refused with its figures named, an equal one promoted, then rolled back
    worse, equal = adapter(tmp_path / "adapters" / "worse", b"worse"), adapter(tmp_path / "adapters" / "equal", b"eq")
    monkeypatch.setattr(rag.tuning.gate, "knowledge_base_evaluation", stood_in_evaluation(index))
    assert promoted_adapter() == "" and Settings.load(env={}).generation.adapter == _bundled_adapter()
    refused = runner.invoke(app, ["--config", str(config), "adapters", "promote", str(worse)])
    assert refused.exit_code == 1, refused.output
    assert "false_refusal on held-out questions: candidate 1.000 vs in use 0.000" in refused.stderr
    assert promoted_adapter() == ""
    accepted = runner.invoke(app, ["--config", str(config), "adapters", "promote", str(equal)])
    assert accepted.exit_code == 0, accepted.output
    promoted = promoted_adapter()
    assert Path(promoted).name.startswith("equal-") and Settings.load(env={}).generation.adapter == promoted
    rolled = runner.invoke(app, ["--config", str(config), "adapters", "rollback"])
    assert rolled.exit_code == 0, rolled.output
    assert promoted_adapter() == "" and Settings.load(env={}).generation.adapter == _bundled_adapter()
    assert [json.loads(line)["action"] for line in (AdapterRegistry().root / "history.jsonl").read_text().splitlines()
            ] == ["promote", "rollback"]


def adapter(folder: Path, weights: bytes) -> Path:
    """An adapter folder as the registry sees one (its behaviour is stood in for by `stood_in_evaluation`)."""
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text('{"r": 8}')
    (folder / "adapter_model.safetensors").write_bytes(weights)
    return folder


def stood_in_evaluation(index: Path):
    """The gate's evaluation with real answers from the stand-in models: the real `evaluate_answers` over the
    index; an adapter named "worse…" answers as a model that refuses everything would, any other as the one
    in use. Only what an adapter does to the answers is stood in for."""
    from rag.knowledge_base import open_index

    def evaluation(settings, opener):
        def evaluate(adapter_folder: str, questions):
            with fake_models():
                kb = open_index(index, settings.with_overrides(generation__adapter="", log__enabled=False))
                if Path(adapter_folder).name.startswith("worse"):
                    kb.answerer.gate.evidence = evidence(1.0)
                return evaluate_answers(kb.ask, questions)[0]["overall"]

        return evaluate

    return evaluation


@pytest.mark.slow
def test_a_few_step_retrain_from_feedback_passes_the_real_gate(index, tmp_path):
    """The same loop's training data, a real LoRA training run of a few steps, and the real gate (real models
    answering the gate's questions with the candidate and with the base model side by side)."""
    from rag.ingest import ingest

    log = tmp_path / "interactions.sqlite3"
    with serving(index, log) as (_, live):
        give_feedback(live, ask_everything(live))
    config = config_file(tmp_path, index, log)
    out = tmp_path / "data" / "feedback.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with fake_models(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli_main, "open_knowledge_base",
                      lambda settings, use_adapter=True: cli_main.rag.open(settings.index, settings))
        made = runner.invoke(app, ["--config", str(config), "tune-data", "--feedback", "--out", str(out)])
    assert made.exit_code == 0, made.output

    candidate = tmp_path / "adapters" / "from-feedback"
    trained = runner.invoke(app, ["tune", "--data", str(out), "--out", str(candidate), "--max-steps", "2",
                                  "--top-layers", "2", "--learning-rate", "1e-4"])
    assert trained.exit_code == 0, trained.output
    card = json.loads((candidate / "training_card.json").read_text())
    assert card["steps"] == 2 and (candidate / "adapter_config.json").is_file()

    real_index = tmp_path / "real-index"  # the real embedder's index of the same corpus, for the real gate
    ingest([FIXTURES / "corpus"], real_index)
    real = config_file(tmp_path, real_index, log, generation={"adapter": "", "max_new_tokens": 48})
    verdict = runner.invoke(app, ["--config", str(real), "adapters", "promote", str(candidate), "--json"])
    assert verdict.exit_code == 0, verdict.output  # two small steps change little: no worse than the base model
    figures = json.loads(verdict.stdout)
    assert figures["passed"] and set(figures["figures"]["held-out questions"]) >= {"correct", "false_refusal"}
    assert Settings.load(env={}).generation.adapter == promoted_adapter() != ""
    assert runner.invoke(app, ["adapters", "rollback"]).exit_code == 0
    assert Settings.load(env={}).generation.adapter == _bundled_adapter()
