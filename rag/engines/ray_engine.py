"""The Ray engine: the same per-file function and the same embedder, on a pool of Ray actors.

Each actor (`IngestWorker`) loads the embedding model once, with as many torch threads as CPUs it was
given (not the node's every core, which oversubscribed a node when several actors shared it), and keeps
its own `FileWorker` child, so a hostile file meets the same time and memory budgets as locally and a
file the worker cannot read comes back as a failed file. Work goes out as plain data with ids
(`FileJob`s; passages by their position) and comes back in any order. Nothing that holds a handle (the
index snapshot, the writer's lock) leaves the driver.

An ingest never starts or stops a cluster: `ingest.ray_address` names one the operator started (with
token authentication: Ray's control port listens on every interface); only the actors made here are
ended. rag/engines/local_cluster.py starts a private one on this machine for tests and benchmarks.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import RagError
from ..isolation import FileJob, prepare_isolated, shared_worker
from ..settings import Settings

INSTALL_HINT = 'the "ray" engine needs Ray, which is not installed; install it with: pip install "rag[ray]"'
READY_TIMEOUT_S = 600  # loading torch and the model on a busy node takes a while; an unplaceable actor, forever


def import_ray():
    try:
        import ray
    except ImportError:
        raise RagError(INSTALL_HINT) from None
    return ray


class IngestWorker:
    """One Ray actor: an embedder (loaded once) and a file worker, both used for the life of the ingest."""

    def __init__(self, model_path: str, batch_size: int, memory_mb: int):
        import ray

        from ..embedding import Embedder

        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
        self.embedder = Embedder(model_path, batch_size, threads=max(1, int(cpus)))
        shared_worker(model_path, memory_mb)  # starts now, in parallel with the model load
        self.embedder.dimension  # noqa: B018  (loads the model before any task is timed)

    def ready(self) -> int:
        return os.getpid()

    def prepare(self, job: FileJob) -> tuple[int, dict]:
        return prepare_isolated(job)

    def embed(self, start: int, texts: list[str]) -> tuple[int, np.ndarray]:
        return start, self.embedder.embed(texts)

    def dimension(self) -> int:
        return self.embedder.dimension


class RayEngine:
    name = "ray"

    def __init__(self, embedder, settings: Settings, address: str):
        self._ray = ray = import_ray()
        self.embedder = embedder  # on the driver only its name, path and tokenizer are used: no weights load here
        self.batch_passages = settings.ingest.ray_batch_passages
        self._connected_here = not ray.is_initialized()
        if self._connected_here:
            connect(address)
        try:
            self.workers = self._start_workers(settings)
        except BaseException:
            self.close()
            raise

    def _start_workers(self, settings: Settings) -> list:
        ray, ingest = self._ray, settings.ingest
        total = int(ray.cluster_resources().get("CPU", 0))
        count = ingest.ray_workers or max(1, total // ingest.ray_cpus_per_worker)
        if count * ingest.ray_cpus_per_worker > total:
            raise RagError(f"ingest.ray_workers ({count}) x ingest.ray_cpus_per_worker ({ingest.ray_cpus_per_worker}) "
                           f"needs more CPUs than the Ray cluster has ({total}); lower one of them")
        actor = ray.remote(IngestWorker).options(num_cpus=ingest.ray_cpus_per_worker,
                                                 max_restarts=ingest.ray_retries, max_task_retries=ingest.ray_retries)
        self.workers = [actor.remote(str(Path(self.embedder.path).absolute()), self.embedder.batch_size,
                                     ingest.file_memory_mb) for _ in range(count)]
        ready, pending = ray.wait([w.ready.remote() for w in self.workers], num_returns=count,
                                  timeout=READY_TIMEOUT_S)
        if pending:
            raise RagError(f"{len(pending)} of {count} Ray workers did not start within {READY_TIMEOUT_S} s "
                           "(is the cluster busy, or is this project not installed on its nodes?)")
        self.pids = self._get(ready)
        return self.workers

    def _get(self, refs):
        """`ray.get`, with a worker lost for good (its retries spent) as one line: nothing gets committed."""
        try:
            return self._ray.get(refs)
        except self._ray.exceptions.RayError as exc:
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise RagError(f"a Ray worker failed during the ingest ({type(exc).__name__}: {first}); nothing was "
                           "committed, the index is as it was; run it again (setting ingest.ray_retries)") from None

    def _map_unordered(self, method: str, items: list, finished=None) -> list:
        """Each item to the next idle worker; results as they finish (`finished(result)` is told of each)."""
        ray, workers = self._ray, list(self.workers)
        busy: dict = {}
        results, queue = [], list(reversed(items))
        while queue or busy:
            while queue and workers:
                worker = workers.pop()
                busy[getattr(worker, method).remote(*queue.pop())] = worker
            done, _ = ray.wait(list(busy), num_returns=1)
            workers.append(busy.pop(done[0]))
            results.append(self._get(done[0]))
            if finished:
                finished(results[-1])
        return results

    def prepare_files(self, jobs: list[FileJob]) -> dict[int, dict]:
        # Largest first, so no worker starts a long file when the others are done.
        ordered = sorted(jobs, key=lambda job: -_size(job.path))
        return dict(self._map_unordered("prepare", [(job,) for job in ordered]))

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Passages longest first, cut into tasks of `ingest.ray_batch_passages`: each task's padding stays small
        and, when that size is a multiple of `embedding.batch_size`, its batches are the ones a local run makes."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        tasks = [(start, [texts[i] for i in order[start:start + self.batch_passages]])
                 for start in range(0, len(order), self.batch_passages)]
        meter = None
        if progress:
            from tqdm import tqdm

            meter = tqdm(total=len(texts), desc="Passages")
        try:
            rows = self._map_unordered("embed", tasks, meter and (lambda result: meter.update(len(result[1]))))
        finally:
            if meter:
                meter.close()
        if not rows:
            return np.zeros((0, self.dimension()), dtype=np.float32)
        matrix = np.zeros((len(texts), rows[0][1].shape[1]), dtype=np.float32)
        for start, vectors in rows:
            matrix[order[start:start + len(vectors)]] = vectors
        return matrix

    def dimension(self) -> int:
        return int(self._get(self.workers[0].dimension.remote()))

    def close(self) -> None:
        for worker in getattr(self, "workers", []):
            self._ray.kill(worker)  # ours only; a worker's file reader ends when its pipe closes
        self.workers = []
        if self._connected_here and self._ray.is_initialized():
            self._ray.shutdown()


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0  # the worker will report it


def connect(address: str) -> None:
    """Join the cluster at `address` ("auto" or HOST:PORT) as a driver; a one-line error if none answers.
    A cluster that requires a token (RAY_AUTH_MODE=token) takes it from RAY_AUTH_TOKEN in the environment."""
    ray = import_ray()
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError, TimeoutError, ray.exceptions.RayError) as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise RagError(f"cannot join a Ray cluster at {address!r} (setting ingest.ray_address or --address): "
                       f"{first}; start one with: RAY_AUTH_MODE=token ray start --head --port=6379, and give "
                       "--address HOST:6379 (and its RAY_AUTH_TOKEN)") from None
