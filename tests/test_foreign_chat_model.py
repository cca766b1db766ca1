"""Any local chat model: the end of a turn comes from the model's own template and tokenizer,
in generation (both backends, streamed and not) and in training. The model here is a tiny Llama
with a made-up template whose turns end with "<|end|>" and whose end-of-sequence token is "<eos>"."""
import pytest

from rag.generation import create_generator, end_of_turn_ids, end_of_turn_text
from rag.tuning import TrainingConfig, train
from rag.tuning.trainer import _encode

from . import tiny_chat_model as tiny


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny.build(tmp_path_factory.mktemp("tiny-chat-model"))


@pytest.fixture(scope="module")
def tokenizer(model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model))


def test_end_of_turn_is_read_from_the_template(model, tokenizer):
    assert end_of_turn_text(tokenizer) == " <|end|>"  # as the template writes it after a reply
    end, eos = tokenizer.convert_tokens_to_ids(["<|end|>", "<eos>"])
    assert end_of_turn_ids(tokenizer, model) == [end, eos]


def test_without_its_end_token_the_model_runs_on(model, tokenizer):
    """What the tests below rule out: stopping only at eos, this model writes the memorised next turn."""
    import torch
    from transformers import AutoModelForCausalLM

    weights = AutoModelForCausalLM.from_pretrained(str(model))
    prompt = tokenizer.apply_chat_template(tiny.CONVERSATION, tokenize=False, add_generation_prompt=True)
    ids = torch.tensor([tokenizer(prompt, add_special_tokens=False)["input_ids"]])
    out = weights.generate(ids, do_sample=False, max_new_tokens=8, eos_token_id=tokenizer.eos_token_id,
                           pad_token_id=0)
    assert tokenizer.decode(out[0, ids.shape[1]:]).startswith("hello there <|end|> <|user|> again")


@pytest.mark.parametrize("backend", ["transformers", "ctranslate2"])
def test_generation_stops_at_the_models_own_end_token(model, tmp_path, backend):
    if backend == "ctranslate2":
        pytest.importorskip("ctranslate2")
    generator = create_generator(backend, str(model), tmp_path, max_new_tokens=20)
    assert generator.backend == backend  # no silent fallback
    pieces = list(generator.stream(tiny.CONVERSATION))
    assert "".join(pieces) == tiny.REPLY and len(pieces) == 2  # streamed word by word
    assert generator.generate(tiny.CONVERSATION) == tiny.REPLY


def tiny_examples():
    return [{"messages": tiny.CONVERSATION, "target": tiny.REPLY, "kind": "answerable"}] * 4


def test_training_targets_end_with_the_models_own_end_token(tokenizer):
    ids, answer_start = _encode(tokenizer, tiny_examples()[0], 64, end_of_turn_text(tokenizer))
    assert tokenizer.convert_ids_to_tokens(ids[answer_start:]) == ["hello", "there", "<|end|>"]


def test_tuned_adapter_still_stops_at_its_end_token(model, tmp_path):
    config = TrainingConfig(max_steps=2, accumulation=1, learning_rate=1e-3, validation_share=0.25,
                            validate_every=1, patience=5, max_tokens=64, threads=1)
    card = train(tiny_examples(), model, tmp_path / "adapter", config)
    assert card["steps"] == 2 and (tmp_path / "adapter" / "adapter_config.json").is_file()
    tuned = create_generator("transformers", str(model), tmp_path, tmp_path / "adapter", max_new_tokens=20)
    assert tuned.generate(tiny.CONVERSATION) == tiny.REPLY
