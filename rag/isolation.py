"""Per-file work (size check, hash, load, clean, chunk) isolated from the ingest that asks for it.

`prepare_file` is the whole of one file's work: plain arguments in, plain data out (a dict a JSON
encoder takes), no open handles, so it can run anywhere. `prepare_isolated` is what an ingest engine
maps over `FileJob`s, in this process (rag/engines/local.py) or in a Ray worker (rag/engines/ray_engine.py),
so the budgets hold wherever a file is read. It hands the file to a `FileWorker`: one long-lived child
process with the loaders and the embedder's tokenizer loaded once. The child caps its own address space
(`ingest.file_memory_mb` beyond its idle size); the parent waits `ingest.file_timeout_s` for each file.
A file that raises anything, runs out of memory, runs over time or kills the child is reported with a
reason; the child is restarted and the next file goes on. Messages travel as JSON over a pipe, never as pickles.
"""
from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path

UNCHANGED, LOADED, FAILED = "unchanged", "loaded", "failed"
STARTUP_TIMEOUT_S = 300  # importing the tokenizer's libraries takes seconds; a loaded machine, more


def prepare_file(path: str, known_sha256: str | None, max_bytes: int, embedding_model: str,
                 max_tokens: int, overlap_tokens: int) -> dict:
    """One file's chunks, or why it cannot be indexed. `known_sha256`: the indexed version's hash;
    a file still holding those bytes is not read further (status "unchanged"). A failure carries the file's
    hash when it was taken, so the same bytes are not tried again."""
    from .chunking import Chunker
    from .embedding import Embedder
    from .errors import LoaderError
    from .loaders import load_document
    from .scanning import file_sha256

    file = Path(path)
    sha = None
    try:
        too_large = file.stat().st_size > max_bytes
        if not too_large or known_sha256:  # an over-size file is hashed only to recognise it from last time
            sha = file_sha256(file)
            if sha == known_sha256:
                return {"status": UNCHANGED, "sha256": sha}
        if too_large:
            raise LoaderError(f"larger than {max_bytes / 1024 / 1024:g} MB (setting ingest.max_file_mb)")
        document = load_document(file)
        chunker = Chunker(Embedder(embedding_model).count_tokens, max_tokens, overlap_tokens)
        chunks = [[c.text, c.embed_text, c.section, c.page, c.start, c.end] for c in chunker.chunk(document, "")]
    except LoaderError as exc:
        return {"status": FAILED, "sha256": sha, "reason": str(exc)}
    except OSError as exc:
        return {"status": FAILED, "sha256": sha, "reason": f"cannot read file: {exc.strerror or exc}"}
    except MemoryError:
        return {"status": FAILED, "sha256": sha,
                "reason": "needs more memory than its budget (setting ingest.file_memory_mb)"}
    except RecursionError:
        return {"status": FAILED, "sha256": sha, "reason": "structure nested too deeply to read"}
    except Exception as exc:  # hostile input may break any library in any way: report it, go on
        return {"status": FAILED, "sha256": sha,
                "reason": f"could not be read ({type(exc).__name__}: {str(exc)[:120]})"}
    return {"status": LOADED, "sha256": sha, "title": document.title, "kind": document.kind, "chunks": chunks}


@dataclass(frozen=True)
class FileJob:
    """One file to prepare, as plain data: `id` names it in the result (engines finish files in any order);
    `path` is absolute (a cluster worker resolves a relative one from where its node started)."""

    id: int
    path: str
    known_sha256: str | None
    max_bytes: int
    embedding_model: str
    max_tokens: int
    overlap_tokens: int
    timeout_s: float
    memory_mb: int


def prepare_isolated(job: FileJob) -> tuple[int, dict]:
    """`(job.id, prepare_file(...))` run in this process's shared `FileWorker`, under the job's time and
    memory budgets: a file that cannot be read, hangs or crashes the reader comes back as a failure."""
    arguments = asdict(job)
    del arguments["id"], arguments["timeout_s"], arguments["memory_mb"]
    return job.id, shared_worker(job.embedding_model, job.memory_mb).run(job.timeout_s, **arguments)


class FileWorker:
    """A child process that runs `prepare_file` under a time and a memory budget."""

    def __init__(self, embedding_model: str, memory_mb: int):
        self.embedding_model = embedding_model
        self.memory_mb = memory_mb
        self._process: subprocess.Popen | None = None
        self._requests: Connection | None = None
        self._replies: Connection | None = None
        self._stderr = None
        self._ready = False

    def start(self) -> None:
        """Launch the child without waiting for it: it loads its libraries while the caller works."""
        if self._process is not None:
            return
        to_child, from_parent = os.pipe()
        to_parent, from_child = os.pipe()
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parent.parent)  # the child runs this same code
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        env["TOKENIZERS_PARALLELISM"] = "true"  # safe: the child never forks; a long file is counted on every core
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "rag.isolation", str(to_child), str(from_child), self.embedding_model,
             str(self.memory_mb)],
            pass_fds=(to_child, from_child), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self._stderr, env=env)
        os.close(to_child)
        os.close(from_child)
        self._requests, self._replies = Connection(from_parent, readable=False), Connection(to_parent, writable=False)
        self._ready = False

    def run(self, timeout_s: float, **job) -> dict:
        """`prepare_file(**job)` in the child; a failure dict when it overruns, crashes or runs out of memory."""
        request = json.dumps(job).encode()
        try:
            self._send(request)
        except OSError:  # the child died between files (killed from outside): one fresh start
            self.stop()
            self._send(request)
        if not self._replies.poll(timeout_s):
            self.stop()
            return {"status": FAILED,
                    "reason": f"took longer than {timeout_s:g} s to read and chunk (setting ingest.file_timeout_s)"}
        try:
            return json.loads(self._replies.recv_bytes())
        except (EOFError, OSError):
            reason = self._death_reason()
            self.stop()
            return {"status": FAILED, "reason": reason}

    def _send(self, request: bytes) -> None:
        self.start()
        if not self._ready:
            self._await_ready()
        self._requests.send_bytes(request)

    def _await_ready(self) -> None:
        from .errors import RagError

        try:
            if self._replies.poll(STARTUP_TIMEOUT_S):
                json.loads(self._replies.recv_bytes())
                self._ready = True
                return
            reason = f"did not start within {STARTUP_TIMEOUT_S} s"
        except (EOFError, OSError):
            reason = self._death_reason()
        self.stop()
        raise RagError(f"the file-reading worker process failed to start: {reason}")

    def _death_reason(self) -> str:
        try:
            code = self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = None
        self._stderr.seek(0)
        lines = [line for line in self._stderr.read().decode(errors="replace").splitlines() if line.strip()]
        last = f": {lines[-1].strip()[:160]}" if lines else ""
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            memory = " (likely out of memory: setting ingest.file_memory_mb)" if name in {"SIGKILL", "SIGABRT"} else ""
            return f"crashed the reader ({name}){memory}{last}"
        return f"crashed the reader (exit code {code}){last}"

    def stop(self) -> None:
        if self._process is None:
            return
        for connection in (self._requests, self._replies):
            connection.close()
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._stderr.close()
        self._process = self._requests = self._replies = self._stderr = None
        self._ready = False


_workers: dict[tuple[str, int], FileWorker] = {}


def shared_worker(embedding_model: str, memory_mb: int) -> FileWorker:
    """One worker per model and budget for the life of this process, so repeated ingests start none."""
    key = (embedding_model, memory_mb)
    if key not in _workers:
        _workers[key] = FileWorker(embedding_model, memory_mb)
    _workers[key].start()
    return _workers[key]


@atexit.register
def stop_workers() -> None:
    """End the shared workers (they end with this process anyway)."""
    for worker in _workers.values():
        worker.stop()


def _limit_memory(memory_mb: int) -> None:
    try:
        import resource

        with open("/proc/self/statm") as handle:  # Linux; elsewhere only the time budget applies
            idle = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = idle + memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    except (OSError, ValueError, ImportError):
        pass


def _serve(requests_fd: int, replies_fd: int, embedding_model: str, memory_mb: int) -> None:
    from .embedding import Embedder

    requests, replies = Connection(requests_fd, writable=False), Connection(replies_fd, readable=False)
    Embedder(embedding_model).count_tokens(["warm up"])  # load the tokenizer before any file is timed
    from . import loaders  # noqa: F401  (imported now, not inside the first file's budget)
    import pypdf  # noqa: F401

    _limit_memory(memory_mb)
    replies.send_bytes(b'{"ready": true}')
    while True:
        try:
            job = json.loads(requests.recv_bytes())
        except EOFError:  # the parent is gone
            return
        try:
            reply = json.dumps(prepare_file(**job)).encode()
        except MemoryError:
            reply = json.dumps({"status": FAILED, "reason": "needs more memory than its budget "
                                                            "(setting ingest.file_memory_mb)"}).encode()
        replies.send_bytes(reply)


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
