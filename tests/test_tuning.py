"""LoRA tuning: data shape, no evaluation text in training data, a tiny real training run, merging."""
import json
import re
from dataclasses import replace

import pytest

import rag
from rag.generation import Generator, resolve_model
from rag.prompting import REFUSAL
from rag.tuning import TrainingConfig, build_examples, merge_adapter, train
from rag.tuning.data import read_pairs
from rag.tuning.derived import derived_pairs

from .conftest import REPO

TRAINING = REPO / "corpora" / "training"
SHARED_EVAL = REPO.parent / "shared" / "eval"


def normal(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


@pytest.mark.slow
def test_examples_are_prompts_with_grounded_targets():
    kb = rag.open(REPO / "indexes" / "homeowner", rag.Settings.load(env={}))
    pairs = read_pairs(sorted(TRAINING.glob("qa-*.jsonl")))[:40]
    examples = build_examples(pairs, kb)
    assert len(examples) >= 30
    kinds = {e["kind"] for e in examples}
    assert kinds == {"answerable", "unanswerable"}
    for example in examples:
        system, user = example["messages"]
        assert system["role"] == "system" and user["role"] == "user" and "Question:" in user["content"]
        if example["kind"] == "unanswerable":
            assert example["target"] == REFUSAL
        else:  # the passage's own answering sentence, cited by the number of the passage holding it
            n = int(re.search(r"\[(\d+)\]$", example["target"]).group(1))
            passage = " ".join(user["content"].split(f"\n\n[{n}] ", 1)[1].split("\n\n[")[0].split())
            assert " ".join(re.sub(r" \[\d+\]", "", example["target"]).split()) in passage
        assert user["content"].count("\n\n[") <= 4  # as many passages as answering offers


def test_shipped_examples_match_their_card():
    card = json.loads((TRAINING / "DATA_CARD.json").read_text())
    text = (TRAINING / "examples.jsonl").read_text(encoding="utf-8")
    import hashlib

    assert hashlib.sha256(text.encode()).hexdigest() == card["sha256"]
    assert card["examples"] == len(text.splitlines()) >= 200


def test_no_evaluation_question_is_trained_on():
    evaluation = {normal(json.loads(line)["question"]) for line in
                  (REPO / "corpora" / "homeowner-questions.jsonl").read_text().splitlines() if line.strip()}
    if (SHARED_EVAL / "qa_dev.jsonl").is_file():
        evaluation |= {normal(json.loads(line)["question"]) for line in
                       (SHARED_EVAL / "qa_dev.jsonl").read_text().splitlines() if line.strip()}
    trained = {normal(p["question"]) for p in read_pairs(sorted(TRAINING.glob("qa-*.jsonl")))}
    trained |= {normal(json.loads(line)["question"]) for line in (TRAINING / "examples.jsonl").read_text().splitlines()}
    assert not evaluation & trained


@pytest.mark.skipif(not (SHARED_EVAL / "corpus").is_dir(), reason="needs ../shared/eval")
def test_no_shared_eval_text_leaks_into_training_data():
    from rag.loaders import load_document

    shingles = set()
    for path in (SHARED_EVAL / "corpus").iterdir():
        try:
            words = normal(load_document(path).text).split()
        except rag.RagError:
            continue
        shingles |= {" ".join(words[i:i + 12]) for i in range(len(words) - 11)}
    text = normal((TRAINING / "examples.jsonl").read_text() + " ".join(
        p.read_text() for p in TRAINING.glob("qa-*.jsonl")))
    words = text.split()
    assert not [" ".join(words[i:i + 12]) for i in range(len(words) - 11) if " ".join(words[i:i + 12]) in shingles]


def test_pairs_are_derived_from_definitions_headings_and_figures(tmp_path):
    (tmp_path / "escrow").mkdir()
    (tmp_path / "escrow" / "cushion.md").write_text(
        "# Escrow Basics\n\nServicers collect property taxes and insurance with each monthly payment.\n\n"
        "## Cushion Rules\n\nMost servicers hold a little more than the bills require in the account. "
        "An escrow cushion is an extra amount kept to cover surprise increases in those bills. "
        "Federal rules cap the cushion at 2 months of escrow payments in most cases.\n", encoding="utf-8")
    pairs = {p["kind"]: p for p in derived_pairs(tmp_path, per_kind=5)}
    assert pairs["definition"]["question"] == "What is an escrow cushion?"
    assert pairs["heading"]["question"] == "What should I know about cushion rules?"
    assert pairs["heading"]["answer"].startswith("Most servicers hold")
    assert pairs["figure"]["question"] == "What time frame is given for cushion rules?"
    assert "2 months" in pairs["figure"]["answer"]
    for pair in pairs.values():  # the answer is the passage's own sentence, in a document under the root
        assert pair["doc"] == "escrow/cushion.md" and pair["answer"] == pair["support"]
        assert " ".join(pair["support"].split()) in " ".join((tmp_path / pair["doc"]).read_text().split())


def tiny_examples():
    passage = "[1] Escrow — Cushion\nThe servicer may keep a cushion of up to one-sixth of yearly escrow payments."
    return [{"messages": [{"role": "system", "content": "Answer from the passages and cite [n]."},
                          {"role": "user", "content": f"Passages:\n\n{passage}\n\nQuestion: {q}"}],
             "target": "The cushion can be up to one-sixth of the yearly escrow payments [1].",
             "kind": "answerable"} for q in ("How big is the cushion?", "What cushion may a servicer hold?",
                                            "Is there a limit on the escrow cushion?", "Escrow cushion size?",
                                            "How much extra can escrow hold?", "Cushion limit?")]


TINY_RUN = TrainingConfig(max_steps=2, accumulation=2, learning_rate=5e-3, validation_share=0.34,
                          validate_every=1, patience=5, max_tokens=256)


@pytest.mark.slow
def test_tiny_training_changes_outputs_and_merge_matches(tmp_path):
    import torch

    base = resolve_model("")
    adapter = tmp_path / "adapter"
    config = TINY_RUN
    card = train(tiny_examples(), base, adapter, config)
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()
    assert not (adapter / "README.md").exists()  # no blank model-card template beside the training card
    assert card["steps"] == 2 and card["base_model_sha256"] and card["data_sha256"]
    assert card["curve"][-1]["validation_loss"] < card["curve"][0]["validation_loss"]
    again = train(tiny_examples(), base, tmp_path / "again", config)  # same seed, same curve
    assert [round(p["validation_loss"], 3) for p in again["curve"]] == \
        [round(p["validation_loss"], 3) for p in card["curve"]]

    messages = tiny_examples()[0]["messages"]
    plain, tuned = Generator(str(base), max_new_tokens=12), Generator(str(base), adapter=adapter, max_new_tokens=12)
    ids = plain.tokenizer(plain.render(messages), return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        difference = (plain.model(ids).logits - tuned.model(ids).logits).abs().max().item()
    assert difference > 1e-3

    merged = merge_adapter(base, adapter, tmp_path / "merged")
    assert any(merged.glob("*.safetensors"))
    assert Generator(str(merged), max_new_tokens=12).generate(messages) == tuned.generate(messages)


@pytest.mark.slow
def test_bf16_training_learns_and_keeps_fp32_adapter_weights(tmp_path):
    from safetensors.torch import load_file

    config = replace(TINY_RUN, bf16=True)
    card = train(tiny_examples(), resolve_model(""), tmp_path / "adapter", config)
    assert card["curve"][-1]["validation_loss"] < card["curve"][0]["validation_loss"]
    weights = load_file(str(tmp_path / "adapter" / "adapter_model.safetensors"))
    assert weights and all(str(w.dtype) == "torch.float32" for w in weights.values())


@pytest.mark.slow
def test_top_layers_training_adapts_only_the_top_layers(tmp_path):
    from safetensors.torch import load_file

    card = train(tiny_examples(), resolve_model(""), tmp_path / "adapter", replace(TINY_RUN, top_layers=3))
    assert card["curve"][-1]["validation_loss"] < card["curve"][0]["validation_loss"]
    layers = {int(m.group(1)) for name in load_file(str(tmp_path / "adapter" / "adapter_model.safetensors"))
              for m in [re.search(r"\.layers\.(\d+)\.", name)] if m}
    assert layers == {27, 28, 29}  # SmolLM2-135M has 30 decoder layers


def test_shipped_adapter_was_trained_on_the_shipped_examples():
    from rag.settings import BUNDLED_ADAPTER
    from rag.tuning.trainer import examples_sha256

    if not (BUNDLED_ADAPTER / "training_card.json").is_file():
        pytest.skip("no adapter shipped")
    card = json.loads((BUNDLED_ADAPTER / "training_card.json").read_text())
    examples = [json.loads(line) for line in (TRAINING / "examples.jsonl").read_text(encoding="utf-8").splitlines()
                if line]
    assert card["data_sha256"] == examples_sha256(examples)
    assert card["wall_seconds"] < 30 * 60 and card["best_validation_loss"] < card["curve"][0]["validation_loss"]
