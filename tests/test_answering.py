"""The whole answer path with the real bundled models on the shipped homeowner index."""
from pathlib import Path

import pytest

import rag
from rag.generation import Generator, bundled_generator_model, resolve_model
from rag.errors import ModelNotFoundError
from rag.prompting import REFUSAL

from .conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kb():
    return rag.open(REPO / "indexes" / "homeowner", rag.Settings.load(env={}))


def test_grounded_answer_with_valid_citations(kb):
    answer = kb.ask("How much do I need for a down payment?")
    assert not answer.refused
    assert answer.citations and answer.text
    for c in answer.citations:
        assert 1 <= c.n <= len(answer.hits)
        assert Path(c.source).is_file() and Path(c.source).is_relative_to(REPO / "corpora" / "homeowner")
        assert f"[{c.n}]" in answer.text
        assert c.text == answer.hits[c.n - 1].text
    assert "down payment" in answer.text.lower()


def test_off_topic_question_is_refused(kb):
    answer = kb.ask("Who won the football World Cup in 1998?")
    assert answer.refused and answer.text == REFUSAL and answer.citations == []
    assert answer.evidence < kb.answerer.evidence.threshold


def test_streaming_gives_the_same_text_as_asking(kb):
    question = "When can I ask my lender to cancel PMI?"
    events = list(kb.stream(question))
    final = events[-1]
    assert isinstance(final, rag.types.Answer)
    assert "".join(e for e in events[:-1]) == final.text
    assert kb.ask(question).text == final.text  # greedy decoding is deterministic


def test_follow_up_question_uses_the_conversation(kb):
    history = [{"role": "user", "content": "What is the minimum down payment for a conventional loan?"},
               {"role": "assistant", "content": "As little as 3%."}]
    answer = kb.ask("What about for FHA loans?", history)
    assert answer.search_query.startswith("What is the minimum down payment")
    assert any("fha" in h.source.lower() for h in answer.hits)


def test_gguf_is_converted_once_and_a_folder_model_loads(tmp_path):
    folder = resolve_model("")
    assert (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))
    assert resolve_model(str(bundled_generator_model())) == folder  # cached, keyed by the GGUF's hash
    generator = Generator(str(folder), max_new_tokens=8)  # any local model folder works by configuration
    text = generator.generate([{"role": "user", "content": "Say hello."}])
    assert isinstance(text, str) and len(generator.tokenizer(text)["input_ids"]) <= 8


def test_bad_model_paths_are_clear_errors(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not found"):
        resolve_model(tmp_path / "missing.gguf")
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        resolve_model(tmp_path)


def test_shipped_adapter_answers_by_default_and_can_be_turned_off():
    from rag.settings import BUNDLED_ADAPTER

    if not (BUNDLED_ADAPTER / "adapter_config.json").is_file():
        pytest.skip("no adapter shipped")
    tuned = rag.open(REPO / "indexes" / "homeowner", rag.Settings.load(env={}))
    base = rag.open(REPO / "indexes" / "homeowner", rag.Settings.load(env={}), use_adapter=False)
    assert tuned.answerer.generator.adapter == str(BUNDLED_ADAPTER)
    assert base.answerer.generator.adapter == ""
    answer = tuned.ask("What does an escrow account pay for?")
    assert answer.adapter == str(BUNDLED_ADAPTER) and not answer.refused
