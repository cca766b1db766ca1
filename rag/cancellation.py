"""Stopping work nobody waits for any more: a per-thread flag that long loops check.

The HTTP server answers each request in a thread of its own and sets that thread's flag when the
client disconnects. The answer generator can only be closed between the pieces it yields, a whole
checked sentence apart; generation backends check the flag between tokens, so an abandoned answer
stops within a token instead of a sentence. Work run outside such a thread sees no flag and is
never stopped.
"""
from __future__ import annotations

import threading

_local = threading.local()


def bind(flag: threading.Event) -> None:
    """Make `flag` the current thread's stop flag."""
    _local.flag = flag


def current() -> threading.Event | None:
    """The current thread's stop flag, if it has one; read it in the thread that asked for the work."""
    return getattr(_local, "flag", None)


def requested(flag: threading.Event | None) -> bool:
    return flag is not None and flag.is_set()
