"""Admission control: a few answers at once, a bounded queue, and 429 instead of overload."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager


class Busy(Exception):
    """The queue is full, or a request waited too long for a slot."""

    def __init__(self, retry_after: int):
        super().__init__("the assistant is busy; retry after a few seconds")
        self.retry_after = retry_after


class Admission:
    def __init__(self, concurrency: int, queue_size: int, timeout_s: float):
        self.slots = asyncio.Semaphore(max(1, concurrency))
        self.limit = max(1, concurrency) + max(0, queue_size)
        self.timeout_s = timeout_s
        self.inside = 0  # running plus waiting

    async def enter(self) -> None:
        """Take a slot, waiting in the queue if need be; raises Busy when full or too slow."""
        if self.inside >= self.limit:
            raise Busy(retry_after=self._retry_after())
        self.inside += 1
        try:
            await asyncio.wait_for(self.slots.acquire(), timeout=self.timeout_s)
        except asyncio.TimeoutError:
            self.inside -= 1
            raise Busy(retry_after=self._retry_after()) from None
        except BaseException:  # cancelled while queued (shutdown): the place in the queue is given back
            self.inside -= 1
            raise

    def leave(self) -> None:
        self.slots.release()
        self.inside -= 1

    @asynccontextmanager
    async def slot(self):
        await self.enter()
        try:
            yield
        finally:
            self.leave()

    def _retry_after(self) -> int:
        return max(1, min(60, 5 * self.inside))
