"""A chat tokenizer read with the `tokenizers` library alone: a cold `rag ask` need not import transformers.

Importing transformers' AutoTokenizer imports torch too (transformers 5: configuration_utils →
modeling_rope_utils), 3–7 s of every cold start on this machine, though the int8 backend needs
neither: transformers' fast tokenizers are this same Rust tokenizer, and its chat templates are
Jinja rendered in a sandbox with the same options, which is what this class does. It offers the
part of the transformers tokenizer interface the generators use, and gives the same ids, text and
rendered prompts (tests/test_speed_cold_path.py compares them).
"""
from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Sequence

_SPECIAL_KEYS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


def _content(token) -> str | None:
    """A special token as tokenizer_config.json writes it: a string, or {"content": …}."""
    if isinstance(token, dict):
        token = token.get("content")
    return token if isinstance(token, str) and token else None


def loadable(folder: str | Path) -> bool:
    """True when the folder has what this class reads: tokenizer.json, tokenizer_config.json and a chat template."""
    folder = Path(folder)
    if not (folder / "tokenizer.json").is_file() or not (folder / "tokenizer_config.json").is_file():
        return False
    try:
        return _chat_template(folder, json.loads((folder / "tokenizer_config.json").read_text())) is not None
    except (OSError, ValueError):
        return False


def _chat_template(folder: Path, config: dict) -> str | None:
    template_file = folder / "chat_template.jinja"
    if template_file.is_file():
        return template_file.read_text()
    template = config.get("chat_template")
    if isinstance(template, list):  # named templates: the default one answers chats
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    return template if isinstance(template, str) else None


class ChatTokenizer:
    """tokenizer.json + tokenizer_config.json (+ chat_template.jinja), as transformers' fast tokenizer reads them."""

    def __init__(self, folder: str | Path):
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        self._tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._config = json.loads((self.folder / "tokenizer_config.json").read_text())
        template = _chat_template(self.folder, self._config)
        if template is None:
            raise ValueError(f"{self.folder} has no chat template")
        self.chat_template = template
        self.special_tokens = {key: value for key in _SPECIAL_KEYS
                               if (value := _content(self._config.get(key))) is not None}
        extra = self._config.get("additional_special_tokens") or self._config.get("extra_special_tokens") or []
        self.extra_special_tokens = [t for t in (_content(x) for x in extra) if t]

    def __call__(self, text: str | Sequence[str], add_special_tokens: bool = True) -> dict:
        if isinstance(text, str):
            return {"input_ids": self._tokenizer.encode(text, add_special_tokens=add_special_tokens).ids}
        encoded = self._tokenizer.encode_batch(list(text), add_special_tokens=add_special_tokens)
        return {"input_ids": [e.ids for e in encoded]}

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        return self._tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        return [self._tokenizer.id_to_token(i) for i in ids]

    def get_added_vocab(self) -> dict[str, int]:
        return {token.content: i for i, token in self._tokenizer.get_added_tokens_decoder().items()}

    @property
    def all_special_tokens(self) -> list[str]:
        tokens = list(self.special_tokens.values()) + self.extra_special_tokens
        return list(dict.fromkeys(tokens))

    def _id(self, key: str) -> int | None:
        token = self.special_tokens.get(key)
        return self._tokenizer.token_to_id(token) if token is not None else None

    @property
    def bos_token(self) -> str | None:
        return self.special_tokens.get("bos_token")

    @property
    def eos_token(self) -> str | None:
        return self.special_tokens.get("eos_token")

    @property
    def bos_token_id(self) -> int | None:
        return self._id("bos_token")

    @property
    def eos_token_id(self) -> int | None:
        return self._id("eos_token")

    @property
    def pad_token_id(self) -> int | None:
        return self._id("pad_token")

    @cached_property
    def _template(self):
        """Compiled as transformers compiles chat templates: sandboxed, trim_blocks, lstrip_blocks, loop controls."""
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message):
            from jinja2.exceptions import TemplateError

            raise TemplateError(message)

        def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
            return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                              sort_keys=sort_keys)

        def strftime_now(format_):
            import datetime

            return datetime.datetime.now().strftime(format_)

        environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
        environment.filters["tojson"] = tojson
        environment.globals.update(raise_exception=raise_exception, strftime_now=strftime_now)
        return environment.from_string(self.chat_template)

    def apply_chat_template(self, messages: Sequence[dict], tokenize: bool = True,
                            add_generation_prompt: bool = False):
        rendered = self._template.render(messages=list(messages), add_generation_prompt=add_generation_prompt,
                                         **self.special_tokens)
        return self(rendered, add_special_tokens=False)["input_ids"] if tokenize else rendered
