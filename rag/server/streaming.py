"""The streamed chat completion: holds a generation slot exactly as long as someone is reading."""
from __future__ import annotations

import logging
from typing import Callable, Iterator

from starlette.responses import Response

from ..types import Answer
from .admission import Admission, Busy
from .answer_run import AnswerRun, unless_disconnected
from .openai_format import ChunkWriter, error_response, to_bytes
from .public import PublicPaths

log = logging.getLogger("rag.server")
HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]


class StreamedAnswer(Response):
    """An ASGI response. The slot is taken inside the response, so no path between the route and the
    first byte can leave it taken: a full queue is still a 429 (nothing has been sent yet), and the
    client leaving, an exception or a cancellation all end in the same `finally`."""

    def __init__(self, start: Callable[[], Iterator[str | Answer]], admission: Admission, writer: ChunkWriter,
                 public: Callable[[], PublicPaths]):
        self.start, self.admission, self.writer, self.public = start, admission, writer, public
        self.background = None  # a Response's field, which FastAPI sets; this response runs none

    async def __call__(self, scope, receive, send) -> None:
        try:
            await self.admission.enter()
        except Busy as busy:
            response = error_response(429, str(busy), kind="rate_limit_error", code="busy")
            response.headers["Retry-After"] = str(busy.retry_after)
            await response(scope, receive, send)
            return
        try:
            async with AnswerRun(self.start) as run:
                await unless_disconnected(self._events(run, send), receive)
        finally:
            self.admission.leave()

    async def _events(self, run: AnswerRun, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await self._body(send, self.writer.start())
        try:
            async for item in run:
                if isinstance(item, Answer):
                    citations = [self.public().citation(c) for c in item.citations]
                    await self._body(send, self.writer.finish(item.refused, citations))
                else:
                    await self._body(send, self.writer.text(item))
        except Exception:  # headers are out: the error goes in the stream, where OpenAI clients look for it
            log.exception("a streamed answer failed")
            await self._body(send, self.writer.error("internal error; the server log has the details",
                                                     code="internal_error"))
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _body(send, text: str) -> None:
        await send({"type": "http.response.body", "body": to_bytes(text), "more_body": True})
