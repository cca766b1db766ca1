"""Shared bits for benchmark scripts: where results go and how they are written."""
from __future__ import annotations

import json
import platform
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SHARED_EVAL = ROOT.parent / "shared" / "eval"


def write_results(name: str, results: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": {"python": platform.python_version(), "processor": platform.machine(),
                           "cores": __import__("os").cpu_count()},
               **results}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return path


@contextmanager
def shared_eval_index():
    """A temporary index of ../shared/eval/corpus, or None when that folder is absent."""
    if not (SHARED_EVAL / "qa_dev.jsonl").is_file():
        yield None
        return
    import rag

    with tempfile.TemporaryDirectory() as index:
        rag.ingest([SHARED_EVAL / "corpus"], index)
        yield Path(index)
