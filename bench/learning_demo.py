"""The learning loop on the bundled corpus, with the real models: 60 questions through the HTTP API, feedback
as a careful homeowner would give it, `rag stats` (the corpus gaps), a retrain from the feedback and the
evaluation gate's verdict. Everything lives in a temporary data folder: the user's log and adapters are untouched.

    python bench/learning_demo.py [--steps 8] [--minutes 10]

The homeowner: 45 questions the documents answer (derived by rule from the bundled corpus: a heading, a
definition or a figure, each with the sentence that answers it) and 15 they do not. An answer that states the
answering sentence's content (80 % of its content words) gets a thumbs-up; one that does not, or a refusal of an
answerable question, a thumbs-down with that sentence as the correction and its document as the source; an
answer to a question the documents cannot answer a thumbs-down; a refusal of one a thumbs-up.
Writes bench/results/learning_demo.json.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import ROOT, write_results

from rag.text import mostly_in
from rag.tuning.derived import derived_pairs

OUTSIDE = ["What is the best paint finish for a bathroom ceiling?",
           "How many solar panels does a 2,000 square foot house need?",
           "What is the current mortgage rate at Wells Fargo?",
           "How do I get a building permit for a deck in Austin?",
           "What property tax rate does Maricopa County charge this year?",
           "Which homeowners insurance company has the cheapest premiums in Ohio?",
           "How much does it cost to replace a roof in Seattle?",
           "What is the HOA fee at the Lakeside Villas condominiums?",
           "Who won the 2014 World Cup?",
           "How do I change a car's oil?",
           "What grass seed grows best in shade?",
           "Can I deduct my gym membership on my taxes?",
           "What is the FHA loan limit in Honolulu County for 2023?",
           "How long does a kitchen remodel take in Chicago?",
           "What is the capital of Canada?"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rag_command(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    pairs = derived_pairs(ROOT / "corpora" / "homeowner", per_kind=15, seed=7)[:45]
    questions = [(p["question"], p) for p in pairs] + [(q, None) for q in OUTSIDE]
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "XDG_DATA_HOME": home, "RAG_LOG__PATH": str(Path(home) / "log.sqlite3")}
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port)], cwd=ROOT,
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        base, verdicts, started = f"http://127.0.0.1:{port}", [], time.time()
        try:
            with httpx.Client(base_url=base, timeout=600) as client:
                for _ in range(600):
                    try:
                        if client.get("/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(1)
                for question, pair in questions:
                    answer = client.post("/ask", json={"question": question}).json()
                    if pair is None:
                        judgement = {"rating": "good" if answer["refused"] else "bad"}
                    elif not answer["refused"] and mostly_in(pair["support"], answer["text"], 0.8):
                        judgement = {"rating": "good"}
                    else:
                        judgement = {"rating": "bad", "correction": pair["support"],
                                     "source": f"homeowner/{pair['doc']}"}
                    posted = client.post("/feedback", json={"id": answer["id"], **judgement})
                    verdicts.append({"question": question, "answerable": pair is not None,
                                     "refused": answer["refused"], **judgement, "status": posted.status_code})
                stats = client.get("/stats").json()
        finally:
            server.terminate()
            server.wait(timeout=60)
        asked_seconds = time.time() - started
        data = Path(home) / "feedback.jsonl"
        made = rag_command("tune-data", "--feedback", "--out", str(data), env=env)
        card = json.loads((Path(home) / "DATA_CARD.json").read_text()) if made.returncode == 0 else None
        candidate = Path(home) / "candidate"
        trained = rag_command("tune", "--data", str(data), "--out", str(candidate), "--max-steps", str(args.steps),
                              "--max-minutes", str(args.minutes), "--bf16", env=env) if card else None
        gate = rag_command("adapters", "promote", str(candidate), "--json", env=env) if trained and \
            trained.returncode == 0 else None
    counts = {"asked": len(verdicts), "answerable": sum(v["answerable"] for v in verdicts),
              "thumbs_up": sum(v["rating"] == "good" for v in verdicts),
              "thumbs_down": sum(v["rating"] == "bad" for v in verdicts),
              "corrections": sum("correction" in v for v in verdicts),
              "feedback_accepted": sum(v["status"] == 200 for v in verdicts),
              "refused_answerable": sum(v["refused"] and v["answerable"] for v in verdicts),
              "answered_outside": sum(not v["refused"] and not v["answerable"] for v in verdicts)}
    results = {"counts": counts, "seconds_asking": round(asked_seconds), "stats": stats,
               "tune_data": {"exit": made.returncode, "card": card, "stderr": made.stderr[-2000:]},
               "tune": trained and {"exit": trained.returncode, "stdout": trained.stdout[-1000:],
                                    "stderr": trained.stderr[-1000:]},
               "gate": gate and {"exit": gate.returncode, "verdict": _json(gate.stdout), "stderr": gate.stderr[-1000:]},
               "verdicts": verdicts}
    print(json.dumps({k: results[k] for k in ("counts", "tune_data", "gate")}, indent=2)[:6000])
    write_results("learning_demo", results)


def _json(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text[-2000:]


if __name__ == "__main__":
    main()
