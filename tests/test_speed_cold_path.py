"""The cold path of an answer: `import rag` loads no pipeline, the int8 backend tokenises without
transformers (and so without torch) yet exactly as transformers does, and the embedder runs MiniLM in
CTranslate2 with torch's vectors; the real models answer without importing torch (slow)."""
import json
import logging
import subprocess
import sys

import numpy as np
import pytest

from rag.generation.chat import end_of_turn_ids, end_of_turn_text
from rag.generation.tokenizer import ChatTokenizer, loadable

from . import tiny_chat_model as tiny
from .conftest import REPO

TEXTS = ["hi", "hello there", "what is the answer [1] .", "unknown words here", "<|end|> hi <eos>", ""]


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def tokenizer_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-tokenizer")
    tiny.build_tokenizer().save_pretrained(folder)
    return folder


def test_chat_tokenizer_gives_transformers_ids_text_and_prompts(tokenizer_folder):
    from transformers import AutoTokenizer

    ours, theirs = ChatTokenizer(tokenizer_folder), AutoTokenizer.from_pretrained(str(tokenizer_folder))
    for text in TEXTS:
        for specials in (True, False):
            assert ours(text, add_special_tokens=specials) == {"input_ids": theirs(text, add_special_tokens=specials)[
                "input_ids"]}
        ids = theirs(text, add_special_tokens=False)["input_ids"]
        assert ours.convert_ids_to_tokens(ids) == theirs.convert_ids_to_tokens(ids)
        for skip in (True, False):
            assert ours.decode(ids, skip_special_tokens=skip) == theirs.decode(ids, skip_special_tokens=skip)
    assert ours(TEXTS, add_special_tokens=False)["input_ids"] == theirs(TEXTS, add_special_tokens=False)["input_ids"]
    conversation = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "what is the answer"}]
    for prompt in (True, False):
        assert ours.apply_chat_template(conversation, tokenize=False, add_generation_prompt=prompt) == \
            theirs.apply_chat_template(conversation, tokenize=False, add_generation_prompt=prompt)
    assert ours.apply_chat_template(conversation, add_generation_prompt=True) == \
        theirs.apply_chat_template(conversation, add_generation_prompt=True, return_dict=False)
    assert end_of_turn_text(ours) == end_of_turn_text(theirs) == " <|end|>"
    assert end_of_turn_ids(ours) == end_of_turn_ids(theirs)
    assert (ours.eos_token, ours.eos_token_id, ours.pad_token_id) == \
        (theirs.eos_token, theirs.eos_token_id, theirs.pad_token_id)
    assert set(ours.all_special_tokens) == set(theirs.all_special_tokens)
    assert ours.get_added_vocab() == theirs.get_added_vocab()


def test_a_template_that_raises_raises_as_in_transformers(tokenizer_folder, tmp_path):
    from jinja2.exceptions import TemplateError

    (tmp_path / "tokenizer.json").write_bytes((tokenizer_folder / "tokenizer.json").read_bytes())
    config = json.loads((tokenizer_folder / "tokenizer_config.json").read_text())
    config["chat_template"] = "{{ raise_exception('roles must alternate') }}"
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(TemplateError, match="roles must alternate"):
        ChatTokenizer(tmp_path).apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)


def test_a_folder_without_tokenizer_json_or_template_is_left_to_transformers(tokenizer_folder, tmp_path):
    assert loadable(tokenizer_folder)
    assert not loadable(tmp_path)  # nothing there
    (tmp_path / "tokenizer.json").write_bytes((tokenizer_folder / "tokenizer.json").read_bytes())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<eos>"}))
    assert not loadable(tmp_path)  # no chat template anywhere
    (tmp_path / "tokenizer_config.json").write_text("{not json")
    assert not loadable(tmp_path)


def test_the_int8_backend_tokenises_without_transformers(tmp_path):
    pytest.importorskip("ctranslate2")
    from rag.generation import create_generator
    from rag.generation.ctranslate2_backend import CTranslate2Generator

    model = tiny.build(tmp_path / "model")
    generator = create_generator("ctranslate2", str(model), tmp_path / "cache", max_new_tokens=20)
    assert isinstance(generator, CTranslate2Generator) and isinstance(generator.tokenizer, ChatTokenizer)
    assert generator.generate(tiny.CONVERSATION) == tiny.REPLY  # stops at "<|end|>", read by ChatTokenizer


def test_rag_ingest_stays_the_function_whatever_imports_the_submodule():
    done = _python("import rag.ingest\nfrom rag.ingest import ingest as direct\nimport rag\n"
                   "assert rag.ingest is direct and callable(rag.refresh)\n")
    assert done.returncode == 0, done.stderr


def test_import_rag_loads_neither_the_answering_stack_nor_a_model_runtime():
    done = _python(
        "import sys, rag\n"
        "heavy = [m for m in ('torch', 'transformers', 'rag.knowledge_base', 'ctranslate2', 'bs4', 'pypdf')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert callable(rag.open) and callable(rag.ingest) and rag.KnowledgeBase.__name__ == 'KnowledgeBase'\n"
        "assert 'rag.knowledge_base' in sys.modules\n"
        "from rag import offline\n"
        "offline.prepare()\n"
        "assert 'transformers' not in sys.modules\n"
        "try:\n"
        "    rag.no_such_thing\n"
        "except AttributeError as exc:\n"
        "    print(exc)\n")
    assert done.returncode == 0, done.stderr
    assert "no attribute 'no_such_thing'" in done.stdout


@pytest.mark.slow
def test_mean_pooled_minilm_in_ctranslate2_gives_torchs_vectors(tmp_path, caplog):
    from rag import embedding
    from rag.embedding import Embedder

    embedder = Embedder(cache_dir=tmp_path)
    texts = ["When can I cancel PMI?", "escrow " * 400, "Ünïcödé — “quotes” 12,345.67", "a"]
    fast = embedder.embed(texts)
    network = embedder.model.network
    assert isinstance(network, embedding._CTranslate2Network)
    assert embedding._fingerprint(str(embedder.path))[:16] in network.converted.name
    limit = embedder.max_tokens + embedder.special_tokens
    torch_network = embedding._TransformersNetwork(str(embedder.path), embedder.tokenizer, limit)
    reference = embedding._MeanPooledModel(torch_network, 384).encode(texts, 32, False)
    assert np.abs(fast - reference).max() < 1e-5
    assert embedder.special_tokens == embedder.tokenizer.num_special_tokens_to_add()


@pytest.mark.slow
def test_embedder_without_ctranslate2_falls_back_with_one_line(tmp_path, monkeypatch, caplog):
    from rag import embedding

    monkeypatch.setitem(sys.modules, "ctranslate2", None)
    embedding._load_model.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="rag.embedding"):
            model = embedding.Embedder(cache_dir=tmp_path).model
        assert isinstance(model.network, embedding._TransformersNetwork)
        [record] = caplog.records
        assert "\n" not in record.getMessage() and "CTranslate2 unavailable" in record.getMessage()
    finally:
        embedding._load_model.cache_clear()


@pytest.mark.slow
def test_answering_with_the_int8_backend_imports_no_torch():
    warm = _python("import rag; rag.open('indexes/homeowner', rag.Settings.load(env={})).ask('hi')")  # conversions
    assert warm.returncode == 0, warm.stderr[-2000:]
    done = _python(
        "import sys, rag\n"
        "kb = rag.open('indexes/homeowner', rag.Settings.load(env={}))\n"
        "answer = kb.ask('When can I cancel PMI?')\n"
        "assert answer.citations, answer.text\n"
        "print(kb.answerer.generator.backend, sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "ctranslate2 []"
