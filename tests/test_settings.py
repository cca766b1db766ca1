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
