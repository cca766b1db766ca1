"""Generation backends: the factory and its fallback, the int8 conversion cache, streaming against
each runtime's own output, one-batch scoring; the real bundled model on the shipped index (slow)."""
import logging
import subprocess
import sys

import pytest

import rag
from rag.errors import ConfigError, ModelNotFoundError
from rag.generation import create_generator, generator_from_settings
from rag.generation.transformers_backend import TransformersGenerator

from . import tiny_chat_model as tiny
from .conftest import REPO

ctranslate2 = pytest.importorskip("ctranslate2")
from rag.generation import ctranslate2_backend  # noqa: E402  (needs the runtime)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny.build(tmp_path_factory.mktemp("tiny-chat-model"))


def test_unknown_backend_names_the_setting_and_the_choices(model):
    with pytest.raises(ConfigError, match=r"generation\.backend .*'onnx'.*transformers, ctranslate2"):
        create_generator("onnx", str(model))


def test_missing_runtime_falls_back_to_transformers_with_one_line(model, tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # import ctranslate2 -> ImportError
    with caplog.at_level(logging.WARNING, logger="rag.generation"):
        generator = create_generator("ctranslate2", str(model), tmp_path, max_new_tokens=20)
    assert isinstance(generator, TransformersGenerator) and generator.generate(tiny.CONVERSATION) == tiny.REPLY
    [record] = caplog.records
    message = record.getMessage()
    assert "\n" not in message and "'ctranslate2' unavailable" in message and "pip install ctranslate2" in message


def test_failing_conversion_falls_back_and_leaves_no_partial_folder(model, tmp_path, monkeypatch, caplog):
    def broken_converter(self, output_dir, **options):
        (__import__("pathlib").Path(output_dir) / "model.bin").write_bytes(b"half")
        raise RuntimeError("converter exploded\nsecond line of detail")

    monkeypatch.setattr(ctranslate2.converters.TransformersConverter, "convert", broken_converter)
    with caplog.at_level(logging.WARNING, logger="rag.generation"):
        generator = create_generator("ctranslate2", str(model), tmp_path, max_new_tokens=20)
    assert isinstance(generator, TransformersGenerator)
    [record] = caplog.records
    assert record.getMessage().startswith("generation.backend 'ctranslate2' unavailable (converter exploded)")
    assert not list((tmp_path / "ctranslate2").iterdir())  # the staging folder is gone, nothing half-written


def test_a_missing_model_is_the_users_error_not_a_fallback(tmp_path):
    with pytest.raises(ModelNotFoundError):
        create_generator("ctranslate2", str(tmp_path / "missing.gguf"), tmp_path)


def test_conversion_is_cached_by_model_and_adapter_hashes(model, tmp_path):
    said = []
    convert = lambda adapter: ctranslate2_backend.converted_model(str(model), adapter, tmp_path, said.append)  # noqa: E731
    adapter = tiny.build_adapter(model, tmp_path / "adapter", seed=1)
    base, tuned = convert(""), convert(str(adapter))
    assert base != tuned and len(said) == 4  # two conversions, a start and an end line each
    assert convert(str(adapter)) == tuned and convert("") == base and len(said) == 4  # cached: no work, no words
    tiny.build_adapter(model, adapter, seed=2)  # retrained in place: other weights, same path
    retuned = convert(str(adapter))
    assert retuned not in (base, tuned) and len(said) == 6
    card = __import__("json").loads((retuned / "SOURCE.json").read_text())
    assert card["adapter_sha256"] and card["source_sha256"] and card["quantization"] == "int8"
    assert not [p for p in (tmp_path / "ctranslate2").iterdir() if p.name.startswith(".tmp-")]


def test_generation_threads_are_timed_once_per_machine_unless_chosen(model, tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(ctranslate2_backend, "usable_cores", lambda: 2)
    said = []
    build = lambda threads=0: ctranslate2_backend.CTranslate2Generator(  # noqa: E731
        str(model), tmp_path, threads=threads, progress=said.append)
    first = build()
    record = __import__("json").loads((first.folder / "THREADS.json").read_text())
    assert first.threads == record["threads"] in (1, 2) and set(record["seconds"]) == {"1", "2"}
    timings = [line for line in said if line.startswith("timing generation")]
    assert len(timings) == 1
    assert build().threads == first.threads and len([s for s in said if s.startswith("timing")]) == 1  # remembered
    assert build(threads=3).threads == 3  # the setting wins, nothing timed
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert build().threads == 4
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(ctranslate2_backend, "machine_signature", lambda cores: "another machine x2")
    build()
    assert len([s for s in said if s.startswith("timing")]) == 2  # a cache copied elsewhere measures again


def test_an_unreadable_thread_record_is_timed_again(model, tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(ctranslate2_backend, "usable_cores", lambda: 2)
    folder = ctranslate2_backend.converted_model(str(model), "", tmp_path, lambda line: None)
    for damaged in ("[1]", '{"machine": 7, "threads": "lots"}', "{half"):
        (folder / "THREADS.json").write_text(damaged)
        said = []
        assert ctranslate2_backend.measured_threads(folder, said.append) in (1, 2)
        assert [line for line in said if line.startswith("timing generation")]


def test_ctranslate2_stream_matches_its_own_batch_output(model, tmp_path):
    generator = create_generator("ctranslate2", str(model), tmp_path, max_new_tokens=6)
    prompt = generator.tokenizer.convert_ids_to_tokens(generator.prompt_ids([{"role": "user", "content": "bye"}]))
    [batch] = generator.runtime.generate_batch([prompt], max_length=6, sampling_topk=1, repetition_penalty=1.05,
                                               end_token=generator.stop_ids, include_prompt_in_result=False)
    expected = generator.tokenizer.decode(batch.sequences_ids[0], skip_special_tokens=True)
    assert expected and "".join(generator.stream([{"role": "user", "content": "bye"}])) == expected


def test_transformers_stream_matches_its_own_batch_output(model, tmp_path):
    import torch

    generator = create_generator("transformers", str(model), tmp_path, max_new_tokens=6)
    ids = generator.prompt_ids([{"role": "user", "content": "bye"}])
    out = generator.model.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=6, repetition_penalty=1.05,
                                   eos_token_id=generator.stop_ids, pad_token_id=0)
    expected = generator.tokenizer.decode(out[0, len(ids):], skip_special_tokens=True)
    assert expected and "".join(generator.stream([{"role": "user", "content": "bye"}])) == expected


def test_scoring_is_one_batch_and_agrees_across_backends(model, tmp_path, monkeypatch):
    contexts = ["<|user|> hi <|end|> <|assistant|>", "<|user|> bye <|end|> <|assistant|>", "again"]
    fast = create_generator("ctranslate2", str(model), tmp_path)
    runtime, calls = fast.scoring_runtime, []

    class Counting:
        def score_batch(self, rows, **options):
            calls.append(len(rows))
            return runtime.score_batch(rows, **options)

    monkeypatch.setattr(type(fast), "scoring_runtime", property(lambda self: Counting()))
    scores = fast.likelihoods(contexts, " hello there")
    exact = create_generator("transformers", str(model), tmp_path).likelihoods(contexts, " hello there")
    assert calls == [3]
    # int8 against float32 on a tiny model: near zero within 0.05, a larger log-probability within 10 %
    # (transformers 5.24's tiny model measured -4.86 against -5.23 for the context it never saw)
    assert scores == pytest.approx(exact, rel=0.1, abs=0.05)
    assert scores[0] > scores[2]  # the memorised context predicts the reply best


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["transformers", "ctranslate2"])
def test_each_backend_gives_a_grounded_cited_answer(backend):
    settings = rag.Settings.load(env={}).with_overrides(generation__backend=backend)
    kb = rag.open(REPO / "indexes" / "homeowner", settings)
    if kb.answerer.generator.backend != backend:  # until knowledge_base.py builds through generator_from_settings
        kb.answerer.generator = generator_from_settings(settings)
    assert kb.answerer.generator.backend == backend
    answer = kb.ask("How much do I need for a down payment?")
    assert not answer.refused and answer.citations and "down payment" in answer.text.lower()
    for citation in answer.citations:
        assert f"[{citation.n}]" in answer.text and citation.text == answer.hits[citation.n - 1].text
    events = list(kb.stream("When can I ask my lender to cancel PMI?"))
    assert "".join(events[:-1]) == events[-1].text


@pytest.mark.slow
def test_a_process_that_answered_with_ctranslate2_exits_cleanly():
    """CTranslate2 models destroyed during interpreter teardown, beside torch, aborted the process
    (exit status 134) in about half the runs; they are freed at exit now."""
    code = ("from rag.generation import create_generator\nfrom rag.settings import BUNDLED_ADAPTER\n"
            "g = create_generator('ctranslate2', adapter=str(BUNDLED_ADAPTER), threads=1, max_new_tokens=4)\n"
            "g.generate([{'role': 'user', 'content': 'hi'}]); g.likelihoods(['a b', 'c'], ' d')\nimport torch\n")
    for _ in range(4):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-500:]


def test_the_system_turn_kept_between_answers_changes_no_token(model, tmp_path, monkeypatch):
    generator = create_generator("ctranslate2", str(model), tmp_path, max_new_tokens=6, scoring=False)
    conversation = [{"role": "system", "content": "what is the answer"}, {"role": "user", "content": "hi"}]
    ids = generator.prompt_ids(conversation)
    assert 0 < generator.static_prefix(conversation, ids) < len(ids)
    assert generator.static_prefix(tiny.CONVERSATION, generator.prompt_ids(tiny.CONVERSATION)) == 0  # no system turn
    kept = [generator.generate(conversation) for _ in range(2)]  # the second reuses the kept state
    monkeypatch.setattr(type(generator), "keeps_system_turn", False)
    assert kept == [generator.generate(conversation)] * 2


def test_weights_are_prepared_for_scoring_only_when_answers_are_reranked(model, tmp_path):
    adapter = tiny.build_adapter(model, tmp_path / "adapter", seed=1)
    said = []
    generator = ctranslate2_backend.CTranslate2Generator(str(model), tmp_path, adapter, max_new_tokens=4, threads=1,
                                                         progress=said.append, scoring=False)
    assert len(said) == 2  # the answering weights only
    assert generator.scoring_folder != generator.folder and len(said) == 4  # the base weights, on first use
    assert len(generator.likelihoods(["hi there", "bye"], " hello")) == 2


def test_hashes_are_remembered_on_disk_until_a_file_changes(tmp_path, monkeypatch):
    from rag.generation import models

    weights = tmp_path / "weights.gguf"
    weights.write_bytes(b"first")
    first = models.content_hash(weights, cache_dir=tmp_path / "cache")
    models._hash_files.cache_clear()  # a new process: only the memo on disk remembers
    monkeypatch.setattr(models, "file_sha256", lambda path: 1 / 0)
    assert models.content_hash(weights, cache_dir=tmp_path / "cache") == first
    monkeypatch.undo()
    weights.write_bytes(b"second")  # size and time change: hashed again
    assert models.content_hash(weights, cache_dir=tmp_path / "cache") not in ("", first)

