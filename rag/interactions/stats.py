"""What `rag stats` shows: volume, refusals, thumbs-down, latency per stage, adapters, most-cited documents,
and the corpus gaps (rag.interactions.gaps).

Every figure is an SQLite aggregate over plain columns (stage seconds and cited documents are rows of their own
tables): no JSON parsed per answer, so 100,000 answers take a fraction of a second.
"""
from __future__ import annotations

import math
import re
import sqlite3
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Callable

from ..settings import LogSettings
from .gaps import corpus_gaps, window

TOP_DOCUMENTS = 10
_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*([mhdw])")
_AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
SINCE_HELP = "an age such as 7d, 12h, 90m or 2w, or an ISO date such as 2026-11-01"


def parse_since(text: str) -> datetime:
    """The start of a stats window: an age before now ("90m", "12h", "7d", "1.5w") or an ISO date or time;
    ValueError (saying what is accepted) otherwise, also for an age reaching back before the year 1."""
    age = _AGE.fullmatch(text.strip())
    try:
        if age:
            return datetime.now(timezone.utc) - timedelta(**{_AGE_UNITS[age[2]]: float(age[1])})
        moment = datetime.fromisoformat(text.strip())
    except (ValueError, OverflowError):
        raise ValueError(f"must be {SINCE_HELP}; got {text[:40]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def iso(moment: float | None) -> str | None:
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="seconds") if moment else None


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def compute_stats(db: sqlite3.Connection, since: float, settings: LogSettings, embed: Callable | None,
                  embedder_id: str | None) -> dict:
    started = time.perf_counter()
    parameters = {"since": since}
    adapters: dict[tuple, dict] = {}
    channels: Counter = Counter()
    # Answers, then verdicts joined to their answers: joining every answer to its verdict costs 4x more.
    for adapter, digest, channel, answers, refused, first, last in db.execute(
            "SELECT coalesce(adapter, ''), adapter_hash, channel, count(*), sum(refused), min(time), max(time) "
            "FROM interactions i INDEXED BY interactions_figures WHERE time >= :since GROUP BY 1, 2, 3", parameters):
        figures = adapters.setdefault((adapter, digest), dict.fromkeys(
            ("answers", "refused", "judged", "down", "corrections", "last"), 0) | {"first": first})
        figures.update(answers=figures["answers"] + answers, refused=figures["refused"] + refused,
                       first=min(figures["first"], first), last=max(figures["last"], last))
        channels[channel] += answers
    for adapter, digest, judged, down, corrections in db.execute(
            "SELECT coalesce(i.adapter, ''), i.adapter_hash, count(v.good), coalesce(sum(v.good = 0), 0), "
            "count(v.correction) FROM verdicts v JOIN interactions i ON i.id = v.interaction_id "
            f"WHERE {window(db, since)} GROUP BY 1, 2", parameters):
        adapters[(adapter, digest)].update(judged=judged, down=down, corrections=corrections)
    total = {name: sum(f[name] for f in adapters.values()) for name in ("answers", "refused", "judged", "down",
                                                                        "corrections")}
    by_adapter = [{"adapter": adapter, "hash": digest, "answers": f["answers"], "last_used": iso(f["last"]),
                   "thumbs_down": f["down"], "thumbs_down_rate": share(f["down"], f["judged"])}
                  for (adapter, digest), f in sorted(adapters.items(), key=lambda item: -item[1]["last"])]
    return {
        "since": iso(since) if since else None,
        "first": iso(min((f["first"] for f in adapters.values()), default=None)),
        "last": iso(max((f["last"] for f in adapters.values()), default=None)),
        "questions": total["answers"], "refused": total["refused"],
        "refusal_rate": share(total["refused"], total["answers"]), "judged": total["judged"],
        "thumbs_down": total["down"], "thumbs_down_rate": share(total["down"], total["judged"]),
        "corrections": total["corrections"],
        "channels": dict(sorted(channels.items(), key=lambda item: (-item[1], item[0]))),
        "latency_s": latency(db, since),
        "adapters": by_adapter,
        "adapter_in_use": by_adapter[0] if by_adapter else None,
        "most_cited": [{"source": source, "citations": n} for source, n in db.execute(
            "SELECT source, count(*) FROM cited INDEXED BY cited_figures WHERE time >= :since GROUP BY 1 "
            "ORDER BY 2 DESC, 1 LIMIT :top",
            {**parameters, "top": TOP_DOCUMENTS}).fetchall()],
        "gaps": corpus_gaps(db, since, settings, embed, embedder_id) if embed is not None else None,
        "seconds": round(time.perf_counter() - started, 3),
    }


def latency(db: sqlite3.Connection, since: float) -> dict:
    """p50 and p95 seconds of each stage logged (nearest rank), walked off the (stage, seconds, time) index: in
    order, the window's time checked in the index, no row read and nothing sorted."""
    source = "stage_seconds INDEXED BY stage_seconds_order WHERE stage = :stage AND time >= :since"
    result = {}
    for (stage,) in db.execute("SELECT DISTINCT stage FROM stage_seconds ORDER BY 1").fetchall():
        parameters = {"stage": stage, "since": since}
        n = db.execute(f"SELECT count(*) FROM {source}", parameters).fetchone()[0]
        if n:
            result[stage] = {name: round(db.execute(
                f"SELECT seconds FROM {source} ORDER BY seconds LIMIT 1 OFFSET :offset",
                {**parameters, "offset": max(math.ceil(q * n) - 1, 0)}).fetchone()[0], 4)
                for name, q in (("p50", 0.50), ("p95", 0.95))} | {"n": n}
    return result
