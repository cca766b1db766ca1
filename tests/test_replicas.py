"""`rag serve --replicas N`: concurrent requests reach different replica processes, each replica keeps its own
queue and 429, and a replica that dies is reported and replaced. The replicas open a stand-in knowledge base
(named by factory path) whose answers wait for the test's signal, so nothing depends on timing."""
import concurrent.futures
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from rag.errors import IndexNotFoundError
from rag.types import Answer

from .conftest import REPO
from .live_server import free_port

GATE = "REPLICA_TEST_GATE"  # a folder: answers mark their start there and wait for a "release" file


class StandInKnowledgeBase:
    """What the server uses of a KnowledgeBase. An answer names its process and waits for the release file."""

    def __init__(self, settings, gate: Path):
        self.settings = settings
        self.store = SimpleNamespace(root=Path(settings.index))
        manifest = SimpleNamespace(roots=[], counts={"documents": 1, "chunks": 1})
        self.snapshot = SimpleNamespace(version="v000001", manifest=manifest)
        self.gate = gate

    def search(self, query, k=None):
        return []

    def stream(self, question, history=None, **_):
        marker = self.gate / f"started-{os.getpid()}-{time.monotonic_ns()}"
        marker.touch()
        deadline = time.monotonic() + 60
        while not (self.gate / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        yield f"answered by {os.getpid()}"
        yield Answer(question=question, text=f"answered by {os.getpid()}", refused=False)

    def ask(self, question, history=None, **_):
        *_, answer = self.stream(question, history)
        return answer


def stand_in_knowledge_base(settings, use_adapter):
    return StandInKnowledgeBase(settings, Path(os.environ[GATE]))


def unopenable_knowledge_base(settings, use_adapter):
    raise IndexNotFoundError(f"no index at {settings.index}; build one with 'rag ingest'")


class ReplicaServer:
    """`serve_replicas` in a subprocess of its own, stopped by its PID."""

    def __init__(self, tmp_path: Path, factory: str, **server):
        self.port = free_port()
        self.gate = tmp_path / "gate"
        self.gate.mkdir()
        self.log = tmp_path / "serve.log"
        overrides = {"index": str(REPO / "indexes" / "homeowner"), "server.port": self.port,
                     **{f"server.{k}": v for k, v in server.items()}}
        script = ("import sys\nfrom rag.server.replicas import serve_replicas\nfrom rag.settings import Settings\n"
                  f"settings = Settings.load(env={{}}, overrides={overrides!r})\n"
                  f"sys.exit(serve_replicas(settings, 2, factory={factory!r}, "
                  "log=lambda line: print(line, file=sys.stderr, flush=True)))\n")
        with self.log.open("w") as log:
            self.process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stderr=log,
                                            env={**os.environ, GATE: str(self.gate)})
        self.url = f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text()

    def wait_for(self, text: str, count: int = 1, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.output().count(text) < count:
            assert time.monotonic() < deadline, f"never saw {text!r}:\n{self.output()}"
            assert self.process.poll() is None or text in self.output(), self.output()
            time.sleep(0.1)

    def started(self) -> list[str]:
        return sorted(p.name for p in self.gate.glob("started-*"))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


@pytest.fixture()
def two_replicas(tmp_path):
    server = ReplicaServer(tmp_path, "tests.test_replicas:stand_in_knowledge_base", concurrency=1, queue_size=0)
    try:
        server.wait_for("ready (pid", count=2)
        yield server
    finally:
        server.stop()


def ask(url: str, question: str) -> httpx.Response:
    return httpx.post(f"{url}/ask", json={"question": question}, timeout=120)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_two_requests_are_answered_at_once_by_two_replicas_and_a_third_gets_429(two_replicas):
    server = two_replicas
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first, second = pool.submit(ask, server.url, "one?"), pool.submit(ask, server.url, "two?")
        deadline = time.monotonic() + 60
        while len(server.started()) < 2:  # both answers under way before either may finish: concurrent
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.02)
        # Each replica holds one answer and queues none (concurrency 1, queue_size 0): a third is turned away.
        third = ask(server.url, "three?")
        assert third.status_code == 429 and third.headers["retry-after"], third.text
        (server.gate / "release").touch()
        answers = [first.result(), second.result()]
    assert [a.status_code for a in answers] == [200, 200]
    pids = {a.json()["text"].removeprefix("answered by ") for a in answers}
    assert len(pids) == 2  # two different processes
    assert len({name.split("-")[1] for name in server.started()}) == 2
    assert httpx.get(f"{server.url}/healthz", timeout=30).json()["status"] == "ok"
    assert server.stop() == 0
    deadline = time.monotonic() + 30
    while any(alive(int(pid)) for pid in pids):  # the replicas end with the server
        assert time.monotonic() < deadline, f"replicas {pids} outlived the server"
        time.sleep(0.1)


def test_a_replica_that_dies_is_reported_and_started_again_unless_it_never_worked(two_replicas):
    server = two_replicas
    (server.gate / "release").touch()
    worked = int(ask(server.url, "who?").json()["text"].removeprefix("answered by "))
    idle = next(int(pid) for pid in re.findall(r"ready \(pid (\d+)\)", server.output()) if int(pid) != worked)

    os.kill(idle, signal.SIGKILL)  # it never took a request: starting it again could only repeat the failure
    server.wait_for(f"(pid {idle}) stopped: exited with code -9 before it took a request; not started again "
                    "(1 of 2 answering)")
    assert [ask(server.url, f"still there {n}?").json()["text"] for n in range(2)] == [f"answered by {worked}"] * 2

    os.kill(worked, signal.SIGKILL)
    server.wait_for(f"(pid {worked}) exited with code -9; starting it again (0 of 2 answering)")
    server.wait_for("ready (pid", count=3)
    response = ask(server.url, "and now?")
    assert response.status_code == 200 and response.json()["text"] not in {f"answered by {worked}",
                                                                          f"answered by {idle}"}


def test_replicas_that_cannot_open_the_index_are_reported_and_the_server_stops(tmp_path):
    server = ReplicaServer(tmp_path, "tests.test_replicas:unopenable_knowledge_base")
    assert server.process.wait(timeout=120) == 1
    assert server.output().count("could not start: no index at") == 2
    assert "no replica is left to answer; stopping" in server.output()


def test_serve_with_replicas_names_a_missing_index_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, ["serve", "--replicas", "2", "--index", str(tmp_path / "nothing")])
    assert result.exit_code != 0
    assert result.output.strip().splitlines()[-1].startswith(f"error: no index at {tmp_path / 'nothing'}")

