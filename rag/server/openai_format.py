"""Translation between the OpenAI chat-completions protocol and `rag`'s Answer."""
from __future__ import annotations

import json
import time
import uuid
from typing import Iterator

from starlette.responses import JSONResponse

from ..types import Answer
from .schemas import ChatRequest, RequestError


def to_bytes(text: str) -> bytes:
    """UTF-8, with a lone surrogate (a file name that was not UTF-8, kept by surrogateescape) written as
    its `\\udcff` escape, which inside a JSON string is valid JSON: a response never fails to encode."""
    return text.encode("utf-8", "backslashreplace")


class SafeJSONResponse(JSONResponse):
    def render(self, content) -> bytes:
        return to_bytes(json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")))


def error_body(message: str, kind: str = "invalid_request_error", param=None, code=None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(status: int, message: str, kind: str = "invalid_request_error", param=None,
                   code=None) -> SafeJSONResponse:
    return SafeJSONResponse(error_body(message, kind, param, code), status_code=status)


def chat_turns(request: ChatRequest) -> tuple[str, list[dict]]:
    """(question, history) from a validated chat-completions request: the last message is the question."""
    history = [{"role": m.role, "content": m.text} for m in request.messages]
    if history[-1]["role"] != "user" or not history[-1]["content"].strip():
        raise RequestError("the last message must be a non-empty user message (the question)", param="messages")
    return history.pop()["content"], history


def unlogged_id() -> str:
    """A completion's id when the answer was not logged (logging off): unique, but nothing to give feedback on."""
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def completion(text: str, refused: bool, citations: list[dict], model: str, answer_id: str | None = None) -> dict:
    """A chat completion whose `id` is the answer's log id, the id `POST /feedback` takes."""
    return {
        "id": answer_id or unlogged_id(), "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "citations": citations, "refused": refused,
    }


class ChunkWriter:
    """Server-sent events for a streamed completion; citations ride on the final chunk.

    The answer is logged only once it is finished, so the chunks before it carry a provisional id and the
    final chunk carries the log id: the id `POST /feedback` takes is the last chunk's."""

    def __init__(self, model: str):
        self.id = unlogged_id()
        self.created = int(time.time())
        self.model = model

    def identified(self, events: Iterator[str | Answer]) -> Iterator[str | Answer]:
        """`events` passed through, taking the Answer's log id as this completion's id before the final chunk
        is written. Closing this closes `events` (an abandoned answer must release the generator's lock)."""
        try:
            for item in events:
                if isinstance(item, Answer) and item.id:
                    self.id = item.id
                yield item
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()

    def _event(self, delta: dict, finish_reason=None, **extra) -> str:
        chunk = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}], **extra}
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    def start(self) -> str:
        return self._event({"role": "assistant", "content": ""})

    def text(self, piece: str) -> str:
        return self._event({"content": piece})

    def finish(self, refused: bool, citations: list[dict]) -> str:
        return self._event({}, "stop", citations=citations, refused=refused) + "data: [DONE]\n\n"

    @staticmethod
    def error(message: str, kind: str = "server_error", code: str | None = None) -> str:
        """A failure after the stream began: OpenAI clients raise it as an APIError."""
        return f"data: {json.dumps(error_body(message, kind, None, code))}\n\n"
