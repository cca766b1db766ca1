"""`rag stats` on a synthetic 100,000-answer interaction log.

The log is written with the log's own row function (rag.interactions.records) in one transaction: 100,000
answers over 90 days, each with 4 passages of ~600 characters, 1-2 citations and 3 timed stages; 15% refused,
20% judged (a quarter of those thumbs-down), questions drawn from 3,000 distinct wordings. Then:
- `InteractionLog.stats` in this process, first with no cached question vectors (the corpus gaps embed their
  questions with the bundled MiniLM), then again (vectors cached in the log: nothing to embed);
- the `rag stats --json` command as a user runs it (a fresh process: interpreter, imports, report), warm.
Run: python bench/stats_speed.py [--rows 100000]
"""
from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, write_results

sys.path.insert(0, str(ROOT))

from rag.interactions import InteractionLog  # noqa: E402
from rag.interactions.log import insert_row  # noqa: E402
from rag.interactions.records import interaction_row  # noqa: E402
from rag.settings import LogSettings  # noqa: E402
from rag.types import Answer, Citation, Hit  # noqa: E402

TOPICS = ["roof", "gutter", "furnace", "escrow", "PMI", "closing cost", "property tax", "HOA fee", "water heater",
          "basement leak", "termite", "radon", "title insurance", "rate lock", "appraisal", "septic tank",
          "solar panel", "chimney", "deck permit", "sump pump"]
FORMS = ["How do I {a} my {t}?", "What does a {t} {a} cost?", "When should I {a} the {t}?", "Who can {a} a {t}?",
         "Is it worth it to {a} the {t} before selling?", "How often do I need to {a} my {t}?"]
ACTIONS = ["repair", "replace", "inspect", "clean", "insure", "finance", "winterize", "upgrade", "test", "seal"]


def wordings(n: int, rng: random.Random) -> list[str]:
    pool = sorted({form.format(a=a, t=t) for form in FORMS for a in ACTIONS for t in TOPICS})
    rng.shuffle(pool)
    return pool[:n]


def synthetic_log(path: Path, rows: int, seed: int = 0) -> InteractionLog:
    rng = random.Random(seed)
    log = InteractionLog(path, LogSettings(retention_rows=0, retention_days=0))
    questions = wordings(3000, rng)
    passage = "Homeowners should check the item every season and keep receipts for the work done. " * 7
    now = time.time()
    rows_out, feedback = [], []
    for n in range(rows):
        question = questions[int(rng.paretovariate(1.2)) % len(questions)]
        hits = [Hit(score=1.0 - r / 10, text=passage, source=f"corpus/doc{rng.randrange(60)}.md", title="Title",
                    section="Section", page=None, chunk_id=rng.randrange(2000), doc_id="d", similarity=0.6)
                for r in range(4)]
        refused = rng.random() < 0.15
        citations = [] if refused else [Citation(i + 1, hits[i].source, "Title", "Section", None, hits[i].chunk_id,
                                                 passage) for i in range(rng.choice((1, 2)))]
        answer = Answer(question=question, text="The documents don't say." if refused else "An answer [1]. " * 4,
                        refused=refused, citations=citations, hits=hits, search_query=question, evidence=0.7,
                        model="SmolLM2-360M-Instruct", adapter="adapters/homeowner")
        stages = {"retrieval": rng.uniform(0.02, 0.08), "first_piece": rng.uniform(0.5, 2), "total": rng.uniform(2, 8)}
        interaction_id = f"{n:016x}"
        rows_out.append(interaction_row(answer, interaction_id, now - rng.uniform(0, 90 * 86400), "http", stages,
                                        "v000001", "0123456789abcdef", False))
        if rng.random() < 0.2:
            feedback.append((interaction_id, now, int(rng.random() > 0.25)))
    rows_out.sort(key=lambda row: row["time"])  # a log is appended as answers are given: in time order
    db = log._db
    db.execute("BEGIN")
    for row in rows_out:
        insert_row(db, row)
    db.executemany("INSERT INTO feedback (interaction_id, time, good) VALUES (?, ?, ?)", feedback)
    db.executemany("INSERT INTO verdicts (interaction_id, time, good, count) VALUES (?, ?, ?, 1)", feedback)
    db.execute("COMMIT")
    return log


def timed(function) -> tuple[float, object]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    from rag.embedding import Embedder

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.sqlite3"
        build_s, log = timed(lambda: synthetic_log(path, args.rows))
        embedder = Embedder()
        cold_s, cold = timed(lambda: log.stats(embed=embedder.embed, embedder_id=embedder.fingerprint))
        warm = []
        for _ in range(3):
            seconds, report = timed(lambda: log.stats(embed=embedder.embed, embedder_id=embedder.fingerprint))
            warm.append(seconds)
        week_s, _ = timed(lambda: log.stats(since=time.time() - 7 * 86400, embed=embedder.embed,
                                            embedder_id=embedder.fingerprint))
        command = [sys.executable, "-m", "cli.main", "stats", "--json"]
        environment = {**__import__("os").environ, "RAG_LOG__PATH": str(path), "RAG_LOG__RETENTION_ROWS": "0",
                       "RAG_LOG__RETENTION_DAYS": "0"}
        cli = []
        for _ in range(3):
            seconds, process = timed(lambda: subprocess.run(command, cwd=ROOT, env=environment, capture_output=True,
                                                            text=True, timeout=300))
            assert process.returncode == 0, process.stderr
            cli.append(seconds)
        startup_s, _ = timed(lambda: subprocess.run([sys.executable, "-m", "cli.main", "--help"], cwd=ROOT,
                                                    capture_output=True, timeout=300))
        size_mb = path.stat().st_size / 1e6
    results = {
        "rows": args.rows, "log_mb": round(size_mb, 1), "build_s": round(build_s, 1),
        "gaps": len(report["gaps"]), "gap_questions": sum(g["questions"] for g in report["gaps"]),
        "stats_in_process_first_s": round(cold_s, 3),
        "stats_in_process_first_note": "embeds the gap questions with MiniLM (model load included)",
        "stats_in_process_warm_s": [round(s, 3) for s in warm],
        "stats_in_process_since_7d_s": round(week_s, 3),
        "rag_stats_command_warm_s": [round(s, 3) for s in cli],
        "rag_help_command_s": round(startup_s, 3),
        "note": "the command's time includes Python start-up and importing the CLI (rag --help alone, shown)",
        "top_gap": report["gaps"][0] if report["gaps"] else None,
    }
    print(results)
    write_results("stats_speed", results)


if __name__ == "__main__":
    main()
