"""A private Ray cluster on this machine, for tests, benchmarks and trying `--engine ray` on one host.

Each node is a `ray start --block` process in a session of its own, started here and stopped here by its
process group (never `ray stop`, which ends every Ray process on the host, other people's too). Ray 2.x
resolves a loopback `--node-ip-address` to the host's address and its control service listens on every
interface, so the cluster requires a token instead (`RAY_AUTH_MODE=token`, a fresh random
`RAY_AUTH_TOKEN`): a driver must carry it (`LocalCluster.environment`, or `os.environ` while
`LocalCluster` is entered). The dashboard binds 127.0.0.1.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..errors import RagError

START_TIMEOUT_S = 180  # `ray start` measured 12-14 s here on an idle machine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalCluster:
    """`nodes` Ray nodes with `cpus` CPUs each (the first is the head); `address` once started."""

    def __init__(self, nodes: int = 2, cpus: int = 1):
        self.nodes, self.cpus = nodes, cpus
        self.token = secrets.token_hex(32)
        self.processes: list[subprocess.Popen] = []
        self.address = ""
        self._folder = Path(tempfile.mkdtemp(prefix="rag-ray-", dir="/tmp"))  # sockets need a short path
        self._saved_env: dict[str, str | None] = {}

    @property
    def environment(self) -> dict[str, str]:
        """What a driver process needs to join (add to its environment)."""
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token, "RAY_USAGE_STATS_ENABLED": "0"}

    def start(self) -> "LocalCluster":
        port = free_port()
        head = self._start(["--head", f"--port={port}", f"--temp-dir={self._folder}", "--include-dashboard=false",
                            "--dashboard-host=127.0.0.1", f"--dashboard-port={free_port()}"], "head")
        node_ip = self._await_started(head, "head")
        self.address = f"{node_ip}:{port}"
        for number in range(1, self.nodes):
            self._await_started(self._start([f"--address={self.address}"], f"node{number}"), f"node{number}")
        return self

    def _start(self, arguments: list[str], name: str) -> subprocess.Popen:
        ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
        log = open(self._folder / f"{name}.log", "wb")
        process = subprocess.Popen(
            [ray, "start", "--block", f"--num-cpus={self.cpus}", "--disable-usage-stats",
             f"--dashboard-agent-listen-port={free_port()}", "--node-ip-address=127.0.0.1", *arguments],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, **self.environment}, cwd="/")
        log.close()
        self.processes.append(process)
        return process

    def _await_started(self, process: subprocess.Popen, name: str) -> str:
        """The node's IP address, once its `ray start` says the runtime started."""
        log = self._folder / f"{name}.log"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            if "Ray runtime started" in text:
                found = re.search(r"Local node IP: (\S+)", text)
                return found.group(1) if found else "127.0.0.1"
            if process.poll() is not None:
                break
            time.sleep(0.5)
        self.stop()
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        raise RagError(f"the local Ray {name} did not start: {tail[0] if tail else 'no output'}")

    def stop(self) -> None:
        """End every process this cluster started: each node's process group, by its id."""
        for process in reversed(self.processes):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(process.pid, sig)  # the group `start_new_session` made, led by our child
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=10)
                    if sig == signal.SIGTERM:
                        time.sleep(1)  # let the group's other members finish their exit
                except subprocess.TimeoutExpired:
                    continue
        self.processes = []
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> "LocalCluster":
        self.start()
        for key, value in self.environment.items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        _reread_ray_auth()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _reread_ray_auth()


def _reread_ray_auth() -> None:
    """Ray reads RAY_AUTH_MODE and the token once, when imported: a process that imported it before (a test
    module, say) re-reads them so its driver carries this cluster's token."""
    if "ray" not in sys.modules:
        return
    from ray._raylet import AuthenticationTokenLoader, Config

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()
