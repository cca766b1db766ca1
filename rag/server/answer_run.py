"""An answer generated in a thread of its own, stopped as soon as nobody waits for it.

`KnowledgeBase.stream` is a plain generator that holds the generator model's lock while it runs. Left
suspended by a reader that went away, it would hold that lock (and a generation slot) for good. A
generator can only be closed by a thread that is not running it, and only between pieces, so each answer
gets its own thread, which checks a stop flag before every piece and closes the generator itself
(GeneratorExit inside it at the suspended `yield`: its `finally` and `with` blocks release what they hold).
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Awaitable, Callable, Iterator, TypeVar

from .. import cancellation
from ..types import Answer

log = logging.getLogger("rag.server")
Result = TypeVar("Result")


class _End:
    pass


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


class AnswerRun:
    """`async with AnswerRun(lambda: kb.stream(q, h)) as run: async for piece in run: …` — leaving the
    block any way (end, exception, cancellation) stops the work at its next piece."""

    def __init__(self, start: Callable[[], Iterator[str | Answer]]):
        self._start = start
        self._stop = threading.Event()
        self._queue: asyncio.Queue = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> "AnswerRun":
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._run, daemon=True, name="rag-answer").start()
        return self

    async def __aexit__(self, *_) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()

    def __aiter__(self) -> "AnswerRun":
        return self

    async def __anext__(self) -> str | Answer:
        item = await self._queue.get()
        if isinstance(item, _End):
            raise StopAsyncIteration
        if isinstance(item, _Failed):
            raise item.error
        return item

    async def answer(self) -> Answer:
        """The finished Answer (the stream's last item)."""
        async for item in self:
            if isinstance(item, Answer):
                return item
        raise RuntimeError("the answer stream ended without an Answer")

    def _run(self) -> None:
        events = None
        cancellation.bind(self._stop)  # generation reads it between tokens, not only between pieces
        try:
            events = self._start()
            while not self._stop.is_set():
                try:
                    item = next(events)
                except StopIteration:
                    self._post(_End())
                    return
                self._post(item)
        except BaseException as error:  # handed to the reader, which answers or logs it
            self._post(_Failed(error))
        finally:
            self._close(events)

    @staticmethod
    def _close(events) -> None:
        try:
            if events is not None and hasattr(events, "close"):
                events.close()
        except Exception:
            log.exception("closing a stopped answer failed")

    def _post(self, item) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the event loop is gone: the server is shutting down and nobody reads
            self._stop.set()


async def unless_disconnected(work: Awaitable[Result], receive) -> Result | None:
    """`work`'s result, or None as soon as the client disconnects (the work is then cancelled)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        task.cancel()
        watcher.cancel()
    if task.done() and not task.cancelled():
        return task.result()
    return None


async def _disconnected(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
