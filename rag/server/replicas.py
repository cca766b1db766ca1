"""`rag serve --replicas N`: N answering processes behind one port, so N answers are generated at once.

Each replica is a plain process with its own `KnowledgeBase` (models, index) and the usual app
(`create_app`), admission control included: a replica answers `concurrency` questions at once, queues
`queue_size` more and says 429 beyond that, so the whole server holds N times as many.

The parent process loads no model. It accepts connections on the configured host and port and hands
each one, whole, to the replica with the fewest open connections (a byte-for-byte relay, so streaming,
disconnects and keep-alive behave as with one process). A shared listening socket (or SO_REUSEPORT)
would leave the choice to the kernel, which can give two concurrent requests to the same busy
process; counting connections here does not. Replicas listen on 127.0.0.1 ports of their own. A
replica that exits is reported on stderr and started again; one that cannot start, or exits before it
took any request, is reported and left out (a restart would only repeat it); when none is left, the
server stops.
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import multiprocessing
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Callable

from ..errors import ConfigError
from ..index import IndexStore
from ..settings import Settings
from ..threads import one_malloc_arena

DEFAULT_FACTORY = "rag.server.replicas:open_knowledge_base"
RELAY_CHUNK = 65536
WATCH_INTERVAL_S = 0.2
STOP_GRACE_S = 10.0
UNAVAILABLE = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 5\r\n"
               b"connection: close\r\ncontent-length: %d\r\n\r\n%s")


def open_knowledge_base(settings: Settings, use_adapter: bool):
    """The factory a replica opens its knowledge base with (tests name one with stand-in models)."""
    import rag

    return rag.open(settings.index, settings, use_adapter=use_adapter)


@dataclass
class Replica:
    number: int
    process: multiprocessing.Process
    control: Connection  # the parent's end: the replica's port arrives here, and its closing ends the replica
    port: int | None = None  # set once the replica listens
    unreachable: bool = False  # refused a connection: it is dying, the watcher will see it exit
    connections: int = 0
    served: int = 0  # connections relayed to it, ever
    ended: bool = False  # exit noticed and reported
    failed: str = ""  # why it could not start (then it is not started again)


@dataclass
class ReplicaSet:
    """Starts, watches, restarts and stops the replica processes."""
    settings: Settings
    count: int
    use_adapter: bool = True
    factory: str = DEFAULT_FACTORY
    log: Callable[[str], None] = print
    replicas: list[Replica] = field(default_factory=list)
    _turn: int = 0

    def start(self) -> None:
        self.replicas = [self._spawn(number) for number in range(1, self.count + 1)]

    def _spawn(self, number: int) -> Replica:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited model threads or locks
        control, child_end = context.Pipe()
        # Plain JSON crosses to the child, not live objects: the replica rebuilds its settings from it.
        process = context.Process(target=run_replica, name=f"rag-replica-{number}", daemon=True,
                                  args=(json.dumps(self.settings.to_dict()), self.count, self.use_adapter,
                                        self.factory, number, child_end))
        process.start()
        child_end.close()
        return Replica(number, process, control)

    def watch(self) -> None:
        """Take in ready and failure messages; report and restart replicas that exited."""
        for position, replica in enumerate(self.replicas):
            with contextlib.suppress(EOFError, OSError):
                while replica.port is None and not replica.failed and replica.control.poll():
                    message = json.loads(replica.control.recv_bytes())
                    if "port" in message:
                        replica.port = int(message["port"])
                        self.log(f"replica {replica.number} of {self.count} ready (pid {replica.process.pid})")
                    else:
                        replica.failed = str(message.get("error", "unknown error"))
                        self.log(f"error: replica {replica.number} could not start: {replica.failed}")
            if replica.ended or replica.process.is_alive():
                continue
            replica.ended = True
            code = replica.process.exitcode
            if not replica.served and not replica.failed:  # died before taking any work: a restart would loop
                replica.failed = f"exited with code {code} before it took a request"
                self.log(f"error: replica {replica.number} (pid {replica.process.pid}) stopped: {replica.failed}; "
                         f"not started again ({len(self.answering())} of {self.count} answering)")
            if replica.failed:
                continue
            self.log(f"replica {replica.number} (pid {replica.process.pid}) exited with code {code}; "
                     f"starting it again ({len(self.answering())} of {self.count} answering)")
            replica.control.close()
            self.replicas[position] = self._spawn(replica.number)

    def answering(self) -> list[Replica]:
        return [r for r in self.replicas if r.port is not None and not (r.ended or r.unreachable)]

    def any_left(self) -> bool:
        return any(not r.failed for r in self.replicas)

    def choose(self) -> Replica | None:
        """The replica with the fewest open connections; ties taken in turn."""
        ready = self.answering()
        if not ready:
            return None
        self._turn += 1
        return min(ready, key=lambda r: (r.connections, (r.number - self._turn) % self.count))

    def stop(self) -> None:
        for replica in self.replicas:
            if replica.process.is_alive():
                replica.process.terminate()  # SIGTERM to this pid only: uvicorn finishes and exits
        deadline = time.monotonic() + STOP_GRACE_S
        for replica in self.replicas:
            replica.process.join(max(0.0, deadline - time.monotonic()))
            if replica.process.is_alive():
                replica.process.kill()
                replica.process.join()
            replica.control.close()


def serve_replicas(settings: Settings, count: int, use_adapter: bool = True, factory: str = DEFAULT_FACTORY,
                   log: Callable[[str], None] = print) -> int:
    """Serve on settings.server.host:port with `count` replicas until interrupted; the exit code."""
    IndexStore(settings.index).current_dir()  # a missing index is one line here, before any process starts
    replicas = ReplicaSet(settings, count, use_adapter, factory, log)
    try:
        return asyncio.run(_dispatch(replicas, settings.server.host, settings.server.port))
    except KeyboardInterrupt:
        return 0


async def _dispatch(replicas: ReplicaSet, host: str, port: int) -> int:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stopping.set)
    try:
        server = await asyncio.start_server(lambda r, w: _relay(replicas, r, w), host, port, reuse_address=True)
    except OSError as exc:
        raise ConfigError(f"server.port: cannot listen on {host}:{port} ({exc.strerror}); "
                          "choose another with --port") from None
    replicas.start()
    code = 0
    try:
        async with server:
            while not stopping.is_set():
                replicas.watch()
                if not replicas.any_left():
                    replicas.log("error: no replica is left to answer; stopping")
                    code = 1
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stopping.wait(), WATCH_INTERVAL_S)
    finally:
        server.close()
        await loop.run_in_executor(None, replicas.stop)
    return code


async def _relay(replicas: ReplicaSet, client_reader: asyncio.StreamReader,
                 client_writer: asyncio.StreamWriter) -> None:
    try:
        upstream = await _connect(replicas)
        if upstream is None:
            body = json.dumps({"error": {"message": "no replica is answering yet; retry in a few seconds",
                                         "type": "server_error", "param": None, "code": "unavailable"}}).encode()
            client_writer.write(UNAVAILABLE % (len(body), body))
            await client_writer.drain()
            return
        replica, (upstream_reader, upstream_writer) = upstream
        try:
            await asyncio.gather(_copy(client_reader, upstream_writer, half_close=True),
                                 _copy(upstream_reader, client_writer, half_close=False))
        finally:
            replica.connections -= 1
            upstream_writer.close()
    except (ConnectionError, OSError):
        pass
    finally:
        client_writer.close()


async def _connect(replicas: ReplicaSet):
    """A connection to the least busy replica that accepts one; None when none does."""
    for _ in range(replicas.count):
        replica = replicas.choose()
        if replica is None:
            return None
        replica.connections += 1
        try:
            connection = await asyncio.open_connection("127.0.0.1", replica.port)
            replica.served += 1
            return replica, connection
        except OSError:  # it died a moment ago: the watcher reports and restarts it
            replica.connections -= 1
            replica.unreachable = True
    return None


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, half_close: bool) -> None:
    """Bytes from one side to the other. The client's end of sending is passed on as such (the replica
    still answers); the replica's end, or either side going away, ends the connection."""
    try:
        while data := await reader.read(RELAY_CHUNK):
            writer.write(data)
            await writer.drain()
        if half_close and writer.can_write_eof():
            writer.write_eof()
            return
    except (ConnectionError, OSError):
        pass
    writer.close()


def run_replica(settings_json: str, count: int, use_adapter: bool, factory: str, number: int,
                control: Connection) -> None:
    """A replica process: open the knowledge base, listen on a loopback port, tell the parent, serve."""
    import uvicorn

    from ..errors import RagError
    from .app import create_app

    one_malloc_arena()  # a fresh interpreter, before its first thread (see rag.threads)
    threading.Thread(target=_exit_with_parent, args=(control,), daemon=True).start()
    settings = Settings.load(env={}, overrides=json.loads(settings_json))
    if not settings.threads:  # the cores are shared out between replicas instead of each taking them all
        settings = settings.with_overrides(threads=max(1, (os.cpu_count() or 1) // count))
    module, _, name = factory.partition(":")
    try:
        kb = getattr(importlib.import_module(module), name)(settings, use_adapter)
    except RagError as exc:
        control.send_bytes(json.dumps({"error": str(exc)}).encode())
        return
    server = uvicorn.Server(uvicorn.Config(create_app(kb, settings.server), log_level="warning"))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)  # connections wait in the backlog until uvicorn takes them
    control.send_bytes(json.dumps({"port": listener.getsockname()[1]}).encode())
    server.run(sockets=[listener])


def _exit_with_parent(control: Connection) -> None:
    """The parent holds the other end of `control`; when it is gone (even killed), so is this replica."""
    with contextlib.suppress(EOFError, OSError):
        while True:
            control.recv_bytes()
    os._exit(0)
