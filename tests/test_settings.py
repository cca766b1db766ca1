import pytest

from rag.errors import ConfigError
from rag.settings import Settings


def test_defaults_file_env_and_overrides_layer(tmp_path):
    config = tmp_path / "rag.toml"
    config.write_text('index = "/data/idx"\n[retrieval]\nk = 7\nhybrid = false\n[chunking]\nmax_tokens = 150\n')
    env = {"RAG_CONFIG": str(config), "RAG_RETRIEVAL__K": "9", "RAG_INDEX": "/env/idx"}
    settings = Settings.load(env=env, overrides={"chunking.max_tokens": 120})
    assert settings.index == "/env/idx"
    assert settings.retrieval.k == 9 and settings.retrieval.hybrid is False
    assert settings.chunking.max_tokens == 120
    assert Settings.load(env={}).retrieval.k == 5


def test_with_overrides_leaves_original_alone():
    base = Settings.load(env={})
    changed = base.with_overrides(retrieval__k=2)
    assert changed.retrieval.k == 2 and base.retrieval.k == 5


@pytest.mark.parametrize("toml, message", [
    ("[retrieval]\nkk = 1\n", "unknown setting 'retrieval.kk'"),
    ("[retrieval]\nk = 'many'\n", "'retrieval.k' must be int"),
    ("retrieval = 3\n", "'retrieval' is a section"),
    ("not toml [", "not valid TOML"),
])
def test_bad_config_names_the_field(tmp_path, toml, message):
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError, match=message):
        Settings.load(config=config, env={})


def test_missing_config_file():
    with pytest.raises(ConfigError, match="not found"):
        Settings.load(config="/no/such/rag.toml", env={})


def test_the_answering_policy_is_a_settings_section(tmp_path):
    config = tmp_path / "rag.toml"
    config.write_text('[answering]\nquote_limit = 2\nsentence_support = 0.6\nnot_names = ["May"]\n')
    settings = Settings.load(config=config, env={"RAG_ANSWERING__QUOTES_LEAD": "Quoted: "})
    policy = settings.answering
    assert (policy.quote_limit, policy.sentence_support, policy.not_names, policy.quotes_lead) == \
        (2, 0.6, ("May",), "Quoted: ")
    assert Settings.load(env={}).answering.quote_limit == 3  # the defaults are untouched
    assert Settings.load(env={"RAG_ANSWERING__NOT_NAMES": "May June"}).answering.not_names == ("May", "June")


def test_every_policy_field_is_documented():
    import dataclasses

    from rag.policy import AnsweringPolicy

    for f in dataclasses.fields(AnsweringPolicy):
        assert len(f.metadata.get("help", "")) > 20, f.name


@pytest.mark.parametrize("overrides, message", [
    ({"generation.context_tokens": 160}, r"^generation.context_tokens \(160\) must be larger than "
                                         r"generation.max_new_tokens \(160\)"),
    ({"generation.rerank": True, "generation.rerank_candidates": 3},
     r"^generation.rerank_candidates \(3\) must be at least generation.passages"),
    ({"retrieval.k": 0}, r"^retrieval.k must be between 1 and 50, got 0"),
    ({"retrieval.k": 51}, r"^retrieval.k must be between 1 and 50"),
    ({"generation.passages": 60, "generation.rerank_candidates": 60}, r"^generation.passages must be between 1 and 50"),
    ({"answering.sentence_support": 1.5}, r"^answering.sentence_support must be between 0.0 and 1.0, got 1.5"),
    ({"answering.quote_max_gap": -0.1}, r"^answering.quote_max_gap must be at least 0.0"),
    ({"answering.declines": "(unclosed"}, r"^answering.declines is not a valid regular expression"),
    ({"chunking.overlap_tokens": 200}, r"^chunking.overlap_tokens \(200\) must be smaller than chunking.max_tokens"),
    ({"retrieval.near_duplicate": 2.0}, r"^retrieval.near_duplicate must be between 0 and 1"),
    ({"generation.repetition_penalty": 0}, r"^generation.repetition_penalty must be above 0"),
    ({"generation.max_new_tokens": 0}, r"^generation.max_new_tokens must be at least 1"),
])
def test_inconsistent_settings_are_one_line_errors_naming_the_field(overrides, message):
    with pytest.raises(ConfigError, match=message) as caught:
        Settings.load(env={}, overrides=overrides)
    assert "\n" not in str(caught.value)


def test_rerank_candidates_only_matter_when_reranking():
    settings = Settings.load(env={}, overrides={"generation.rerank": False, "generation.rerank_candidates": 1})
    assert settings.generation.rerank_candidates == 1


def test_with_overrides_is_validated_too():
    with pytest.raises(ConfigError, match="retrieval.k"):
        Settings.load(env={}).with_overrides(retrieval__k=500)


def test_the_prompt_budget_is_what_the_answer_leaves():
    generation = Settings.load(env={}).generation
    assert generation.prompt_tokens == generation.context_tokens - generation.max_new_tokens
