"""What every generation backend shares: the chat template, the end-of-turn tokens, the interface.

The end of an assistant turn is read from the model itself, never from one model family's
literal: the token the chat template writes right after an assistant message, the tokenizer's
end-of-sequence token, and the `eos_token_id` list in the model's generation_config.json.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Iterator, Sequence

from .. import cancellation
from ..settings import GenerationSettings

_MARK = "\u2063rag-turn-content\u2063"  # text no real answer contains, to find where the template ends a turn


def end_of_turn_text(tokenizer) -> str:
    """What the chat template writes after an assistant message's content, up to and including
    its first special token (SmolLM2: "<|im_end|>"); the end-of-sequence token when the template
    writes none. A trained answer ends with it, so the model learns to stop where answering stops."""
    messages = [{"role": "user", "content": "?"}, {"role": "assistant", "content": _MARK}]
    try:
        rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    except Exception:  # a template that refuses this conversation shape: the eos token still ends turns
        rendered = ""
    suffix = rendered.split(_MARK, 1)[1] if _MARK in rendered else ""
    specials = sorted((t for t in tokenizer.all_special_tokens + list(tokenizer.get_added_vocab())
                       if t and t in suffix), key=suffix.index)
    if specials:
        return suffix[: suffix.index(specials[0]) + len(specials[0])]
    return tokenizer.eos_token or ""


def end_of_turn_ids(tokenizer, folder: str | Path | None = None) -> list[int]:
    """Token ids that end a reply: the template's end-of-turn token, eos, generation_config's list."""
    ids: list[int] = []
    turn_end = end_of_turn_text(tokenizer)
    if turn_end:
        encoded = tokenizer(turn_end, add_special_tokens=False)["input_ids"]
        ids += encoded[-1:]  # the special token itself; any text before it is not an end
    ids.append(tokenizer.eos_token_id)
    config = Path(folder) / "generation_config.json" if folder else None
    if config and config.is_file():
        listed = json.loads(config.read_text()).get("eos_token_id")
        ids += listed if isinstance(listed, list) else [listed]
    unique = []
    for token in ids:
        if isinstance(token, int) and token >= 0 and token not in unique:
            unique.append(token)
    if not unique:
        raise ValueError("the model's tokenizer names no end-of-turn or end-of-sequence token")
    return unique


class ChatGenerator:
    """Greedy chat generation and passage scoring; backends give `tokenizer`, `context_window`,
    `_pieces` (the generated text, piece by piece) and `_mean_log_probs` (scoring)."""

    backend = ""
    keeps_system_turn = False  # the runtime can keep the system turn's state between answers (static_prefix)
    repetition_penalty = GenerationSettings.repetition_penalty  # the setting sets it (generator_from_settings)

    def __init__(self, source: str, adapter: str, max_new_tokens: int):
        self.source = source
        self.adapter = adapter
        self.max_new_tokens = max_new_tokens
        self._lock = threading.Lock()  # one generation at a time per generator: the CPU is the limit
        self._system_turn: tuple[str, list[int]] | None = None  # (instruction, its ids alone): see static_prefix

    @property
    def tokenizer(self):
        raise NotImplementedError

    @property
    def context_window(self) -> int:
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def render(self, messages: Sequence[dict]) -> str:
        return self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)

    def prompt_ids(self, messages: Sequence[dict]) -> list[int]:
        return self.tokenizer(self.render(messages), add_special_tokens=False)["input_ids"]

    def static_prefix(self, messages: Sequence[dict], prompt_ids: list[int]) -> int:
        """How many of `prompt_ids` are the system turn, when the prompt starts with it token for token (0 when
        not): the same in every answer, so a runtime may keep its state instead of reading it again."""
        if not self.keeps_system_turn or len(messages) < 2 or messages[0].get("role") != "system":
            return 0
        head = self._system_turn_ids(messages[0])
        return len(head) if 0 < len(head) < len(prompt_ids) and prompt_ids[:len(head)] == head else 0

    def _system_turn_ids(self, turn: dict) -> list[int]:
        """The system turn rendered and tokenised alone; remembered, as the instruction rarely changes."""
        content = str(turn.get("content", ""))
        if self._system_turn is None or self._system_turn[0] != content:
            try:
                ids = self.tokenizer(self.tokenizer.apply_chat_template([turn], tokenize=False),
                                     add_special_tokens=False)["input_ids"]
            except Exception:  # a template that wants a user turn: the whole prompt is read each time
                ids = []
            self._system_turn = (content, ids)
        return self._system_turn[1]

    def stream(self, messages: Sequence[dict], max_new_tokens: int | None = None) -> Iterator[str]:
        """Yield text pieces as they are generated; stops at end of turn or the token bound."""
        if cancellation.requested(cancellation.current()):
            return  # the request is gone: not even the prompt's forward pass, the costliest step
        with self._lock:
            ids = self.prompt_ids(messages)
            for piece in self._pieces(ids, max_new_tokens or self.max_new_tokens, self.static_prefix(messages, ids)):
                if piece:
                    yield piece

    def generate(self, messages: Sequence[dict], max_new_tokens: int | None = None) -> str:
        return "".join(self.stream(messages, max_new_tokens))

    def likelihoods(self, contexts: Sequence[str], continuation: str, context_tokens: int = 512) -> list[float]:
        """Mean log-probability of `continuation` after each context, with the base weights (an adapter is
        tuned to answer, not to score), in one batch."""
        heads, tail = self._scoring_rows(contexts, continuation, context_tokens)
        if not tail or not heads or cancellation.requested(cancellation.current()):
            return [0.0] * len(heads)  # (the request is gone: the ranking would serve nobody)
        return self._mean_log_probs(heads, tail)

    def _pieces(self, prompt_ids: list[int], max_new_tokens: int, static: int = 0) -> Iterator[str]:
        """The reply to `prompt_ids`, piece by piece; its first `static` ids are the system turn (see static_prefix)."""
        raise NotImplementedError

    def _mean_log_probs(self, heads: list[list[int]], tail: list[int]) -> list[float]:
        raise NotImplementedError

    def _scoring_rows(self, contexts: Sequence[str], continuation: str,
                      context_tokens: int) -> tuple[list[list[int]], list[int]]:
        """Each context's last `context_tokens` tokens, and the continuation's tokens. A passage that
        tokenises to thousands (text in an odd script or font) would otherwise make one batch huge."""
        tokenizer = self.tokenizer
        tail = tokenizer(continuation, add_special_tokens=False)["input_ids"]
        heads = [tokenizer(c, add_special_tokens=False)["input_ids"][-context_tokens:] or
                 [tokenizer.bos_token_id or 0] for c in contexts]
        return heads, tail


class IncrementalDecoder:
    """Token ids in, new text out: decodes the whole reply each step and yields what was added, holding
    back an unfinished multi-byte character, so the pieces join to exactly the decoded reply."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.sent = ""

    def add(self, token_id: int) -> str:
        self.ids.append(token_id)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd") or not text.startswith(self.sent):
            return ""
        piece, self.sent = text[len(self.sent):], text
        return piece

    def flush(self) -> str:
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        piece = text[len(self.sent):] if text.startswith(self.sent) else ""
        self.sent = text
        return piece
