"""Versioned index folders: build a version beside the live one, then switch in one rename.

A crash at any moment leaves CURRENT naming a complete version (the old or the new);
half-written `.tmp-*` folders are removed by the next writer.
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import IndexLockedError, IndexNotFoundError

POINTER = "CURRENT"
LOCK = ".lock"
_VERSION = re.compile(r"^v(\d{6,})$")
KEEP_VERSIONS = 2  # the live one and its predecessor, for readers still on it


class IndexStore:
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()

    def current_version(self) -> str | None:
        try:
            name = (self.root / POINTER).read_text().strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return name if _VERSION.match(name) and (self.root / name).is_dir() else None

    def current_dir(self) -> Path:
        version = self.current_version()
        if version is None:
            if self.root.is_dir() and any(self.root.iterdir()):
                raise IndexNotFoundError(
                    f"{self.root} is not a rag index (no {POINTER} file); build one with 'rag ingest'")
            raise IndexNotFoundError(f"no index at {self.root}; build one with 'rag ingest PATH --index {self.root}'")
        return self.root / version

    @contextmanager
    def writing(self, wait: bool = False) -> Iterator["IndexStore"]:
        """Hold the single-writer lock (an OS file lock released if the process dies)."""
        self.root.mkdir(parents=True, exist_ok=True)
        handle = open(self.root / LOCK, "a+")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise IndexLockedError(
                    f"index {self.root} is being written by {holder}; try again later or pass --wait") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}\n")
            handle.flush()
            self._remove_stale()
            yield self
        finally:
            handle.close()

    def new_version_dir(self) -> Path:
        folder = self.root / f".tmp-{uuid.uuid4().hex[:12]}"
        folder.mkdir()
        return folder

    def next_version_name(self) -> str:
        numbers = [int(m.group(1)) for p in self.root.iterdir() if (m := _VERSION.match(p.name))]
        return f"v{max(numbers, default=0) + 1:06d}"

    def commit(self, staged: Path, name: str) -> None:
        """Make `staged` the live version: fsync its files, rename it, swap the pointer."""
        for file in staged.rglob("*"):
            if file.is_file():
                _fsync_file(file)
        _fsync_dir(staged)
        final = self.root / name
        os.rename(staged, final)
        pointer_tmp = self.root / f".{POINTER}.{uuid.uuid4().hex[:8]}"
        pointer_tmp.write_text(name + "\n")
        _fsync_file(pointer_tmp)
        os.replace(pointer_tmp, self.root / POINTER)
        _fsync_dir(self.root)
        self._prune(keep=name)

    def _remove_stale(self) -> None:
        for path in self.root.iterdir():
            if path.name.startswith(".tmp-"):
                shutil.rmtree(path, ignore_errors=True)
            elif path.name.startswith(f".{POINTER}."):
                path.unlink(missing_ok=True)

    def _prune(self, keep: str) -> None:
        versions = sorted((p for p in self.root.iterdir() if _VERSION.match(p.name)), key=lambda p: p.name)
        for old in versions[:-KEEP_VERSIONS]:
            if old.name != keep:
                shutil.rmtree(old, ignore_errors=True)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
