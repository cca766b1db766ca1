"""How soon a streamed answer shows its first words: a real `rag serve` on loopback, the official `openai`
client with `stream=True`, warm, on the bundled index.

For each of 20 questions (written for this benchmark) it records the seconds to the first content chunk
and to the last one, the number of content chunks, and whether the answer was refused (the final chunk's
`refused`). The figures that matter: the median time to the first content chunk, and the share of answered
questions that arrive in two or more content chunks (one chunk is an answer that did not stream).

    python bench/stream_latency.py [--index DIR] [--port N] [--no-adapter]

Results go to bench/results/stream.json (`--out NAME`: NAME.json). The server is `python -m cli.main
serve` in the working directory, so running this from a worktree of an older commit (`cd <worktree> &&
python <this file>`) measures that commit's server.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import httpx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import write_results  # noqa: E402

WARM_UP = ["What is a mortgage?", "What does homeowners insurance cover?"]
QUESTIONS = [
    "What is private mortgage insurance?",
    "How much earnest money should I put down with an offer?",
    "What is the difference between prequalification and preapproval?",
    "When do I get my Closing Disclosure?",
    "What does title insurance protect me from?",
    "How can I spot wire fraud before closing?",
    "What happens during the final walkthrough?",
    "How does an escrow account work?",
    "What is a rate lock and how long does it last?",
    "What are discount points?",
    "How do adjustable-rate mortgage caps work?",
    "Who can get a VA loan?",
    "What is the minimum down payment on an FHA loan?",
    "What does a home appraisal check?",
    "What is a home inspection contingency?",
    "How do I appeal my property tax assessment?",
    "What is a HELOC?",
    "How do I figure out the break-even point of a refinance?",
    "What is the right of rescission on a refinance?",
    "How much should I budget each year for home maintenance?",
]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, index: str | None, no_adapter: bool) -> subprocess.Popen:
    command = [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--index", index] if index else []
    command += ["--no-adapter"] if no_adapter else []
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"rag serve exited with {server.returncode}: {server.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.terminate()
    raise SystemExit("rag serve did not answer /healthz within 300 s")


def timed_stream(client, question: str) -> dict:
    """Seconds to the first and the last content chunk, their number, and the final chunk's `refused`."""
    started = time.perf_counter()
    first = last = None
    chunks, refused, text = 0, None, []
    stream = client.chat.completions.create(model="rag-homeowner", stream=True,
                                            messages=[{"role": "user", "content": question}])
    for chunk in stream:
        extra = chunk.model_extra or {}
        if "refused" in extra:
            refused = bool(extra["refused"])
        if chunk.choices and chunk.choices[0].delta.content:
            last = time.perf_counter() - started
            first = last if first is None else first
            chunks += 1
            text.append(chunk.choices[0].delta.content)
    return {"question": question, "first_chunk_s": round(first, 3) if first is not None else None,
            "last_chunk_s": round(last, 3) if last is not None else None,
            "done_s": round(time.perf_counter() - started, 3), "content_chunks": chunks, "refused": refused,
            "words": len("".join(text).split())}


def summary(rows: list[dict]) -> dict:
    answered = [r for r in rows if not r["refused"]]
    firsts = [r["first_chunk_s"] for r in rows if r["first_chunk_s"] is not None]
    lasts = [r["last_chunk_s"] for r in rows if r["last_chunk_s"] is not None]
    return {"questions": len(rows), "answered": len(answered),
            "median_first_chunk_s": round(statistics.median(firsts), 3) if firsts else None,
            "median_last_chunk_s": round(statistics.median(lasts), 3) if lasts else None,
            "median_first_chunk_s_answered": round(statistics.median(
                [r["first_chunk_s"] for r in answered]), 3) if answered else None,
            "max_first_chunk_s": max(firsts) if firsts else None,
            "median_content_chunks_answered": statistics.median(
                [r["content_chunks"] for r in answered]) if answered else None,
            "share_answered_in_2_or_more_chunks": round(
                sum(r["content_chunks"] >= 2 for r in answered) / len(answered), 3) if answered else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", help="index directory (default: the bundled homeowner index)")
    parser.add_argument("--port", type=int, default=0, help="port to serve on (default: a free one)")
    parser.add_argument("--no-adapter", action="store_true", help="answer with the base model")
    parser.add_argument("--out", default="stream", help="results name: bench/results/<out>.json")
    args = parser.parse_args()
    from openai import OpenAI

    port = args.port or free_port()
    load_before = os.getloadavg()[0]
    server = start_server(port, args.index, args.no_adapter)
    try:
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", timeout=600)
        for question in WARM_UP:  # loads the models and fills the caches: the figures are warm ones
            timed_stream(client, question)
        rows = []
        for question in QUESTIONS:
            rows.append(timed_stream(client, question))
            print(f"{rows[-1]['first_chunk_s']:>6} s first, {rows[-1]['last_chunk_s']:>6} s last, "
                  f"{rows[-1]['content_chunks']} chunks{' (refused)' if rows[-1]['refused'] else ''}: {question}",
                  flush=True)
    finally:
        server.terminate()
        server.wait(timeout=60)
    result = summary(rows)
    print(result)
    write_results(args.out, {"load_average_before": round(load_before, 2),
                             "load_average_after": round(os.getloadavg()[0], 2),
                             "adapter": not args.no_adapter, "summary": result, "questions": rows})


if __name__ == "__main__":
    main()
