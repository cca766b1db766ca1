"""Translation between the OpenAI chat-completions protocol and `rag`'s Answer."""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict

from ..types import Answer


class RequestError(Exception):
    """A client mistake: answered with a 4xx in the OpenAI error shape."""

    def __init__(self, message: str, status: int = 400, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.param, self.code = status, param, code


def error_body(message: str, kind: str = "invalid_request_error", param=None, code=None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def parse_chat_request(body: dict, max_chars: int) -> tuple[str, list[dict], bool]:
    """(question, history, stream) from a chat-completions request body."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty list of {role, content} objects", param="messages")
    history = []
    for number, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in {"system", "user", "assistant", "developer"}:
            raise RequestError(f"messages[{number}] needs a role of system, user or assistant", param="messages")
        history.append({"role": message["role"], "content": _text(message.get("content"), number)})
    if history[-1]["role"] != "user" or not history[-1]["content"].strip():
        raise RequestError("the last message must be a non-empty user message (the question)", param="messages")
    question = history.pop()["content"]
    if len(question) > max_chars:
        raise RequestError(f"the question is {len(question)} characters; the limit is {max_chars}",
                           param="messages", code="question_too_long")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError("'stream' must be true or false", param="stream")
    return question, history, stream


def _text(content, number: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # the content-parts form: keep the text parts
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    raise RequestError(f"messages[{number}].content must be a string", param="messages")


def citations_of(answer: Answer) -> list[dict]:
    return [asdict(c) for c in answer.citations]


def completion(answer: Answer, model: str) -> dict:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "citations": citations_of(answer), "refused": answer.refused,
    }


class ChunkWriter:
    """Server-sent events for a streamed completion; citations ride on the final chunk."""

    def __init__(self, model: str):
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        self.model = model

    def _event(self, delta: dict, finish_reason=None, **extra) -> str:
        chunk = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}], **extra}
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    def start(self) -> str:
        return self._event({"role": "assistant", "content": ""})

    def text(self, piece: str) -> str:
        return self._event({"content": piece})

    def finish(self, answer: Answer) -> str:
        return self._event({}, "stop", citations=citations_of(answer), refused=answer.refused) + "data: [DONE]\n\n"
