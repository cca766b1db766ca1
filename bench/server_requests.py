"""`rag serve` under hostile clients: the malformed-request shapes of tests/test_server_hostile.py, repeated,
then 10 streams dropped after their first event, then a normal question.

Reports the status counts (no 5xx is the bar), and the seconds a normal question takes right after the
dropped streams against the same question asked first: the ratio is the cost the hung-up clients left
behind (before issue 17 the second question never came: 429 after the 60 s queue timeout).
Run: python bench/server_requests.py   (loopback only; starts and stops its own server)
"""
from __future__ import annotations

import collections
import json
import os
import socket
import subprocess
import sys
import time

import httpx

from common import ROOT, write_results

sys.path.insert(0, str(ROOT))
from tests.test_server_hostile import MALFORMED, drop_stream  # noqa: E402 — the suite's shapes, not a copy

ROUNDS = 20  # MALFORMED has over 50 shapes: over 1,000 requests
DROPS = 10
QUESTION = {"model": "rag", "messages": [{"role": "user", "content": "When can I cancel PMI?"}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    server = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit(f"rag serve did not start: {server.stderr.read()[-2000:]}")


def timed_question(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = httpx.post(f"{url}/v1/chat/completions", json=QUESTION, timeout=600)
    return time.perf_counter() - started, response.status_code


def main() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(port)
    try:
        first_s, first_status = timed_question(url)  # also warms the models
        statuses: collections.Counter = collections.Counter()
        with httpx.Client(base_url=url, timeout=60) as http:
            for _ in range(ROUNDS):
                for path, body in MALFORMED:
                    content = body if isinstance(body, bytes) else json.dumps(body).encode()
                    statuses[http.post(path, content=content, headers={"Content-Type": "application/json"})
                             .status_code] += 1
        base_s, base_status = timed_question(url)
        for _ in range(DROPS):
            drop_stream(url, "What is an escrow account?")
        after_s, after_status = timed_question(url)
    finally:
        server.terminate()
        server.wait(timeout=60)
    results = {
        "malformed": {"requests": sum(statuses.values()), "shapes": len(MALFORMED),
                      "statuses": dict(sorted(statuses.items())),
                      "5xx": sum(n for status, n in statuses.items() if status >= 500)},
        "question": {"first_s": round(first_s, 2), "before_drops_s": round(base_s, 2),
                     "after_drops_s": round(after_s, 2), "after_over_before": round(after_s / base_s, 2),
                     "statuses": [first_status, base_status, after_status]},
        "dropped_streams": DROPS,
    }
    print(json.dumps(results, indent=2))
    write_results("server", results)


if __name__ == "__main__":
    main()
