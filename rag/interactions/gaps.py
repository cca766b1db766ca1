"""The corpus gaps: refused and thumbs-down questions grouped by meaning — what the documents should say next.

Questions are embedded (vectors cached in the log per embedder, so a repeat report embeds only new questions)
and grouped by leader clustering: most-asked first, each question joins the group whose leading question is
most similar to it when the cosine reaches `log.gap_similarity`, else leads a new group. No number of groups to
choose, the same log always gives the same groups, and each group is named by its most-asked question.
"""
from __future__ import annotations

import hashlib
import sqlite3
from typing import Callable

import numpy as np

from ..settings import LogSettings

LOOKUP_BATCH = 500  # keys per cache query (SQLite bounds the parameters of one statement)


def window(db: sqlite3.Connection, since: float, table: str = "interactions") -> str:
    """The WHERE clause (table alias `i`) for the rows of `table` since `since`. Rows are appended in time order,
    so the window is a range of rowids, read in sequence, from the first row at or after `since` (found on the
    time index); the time test keeps it exact for rows a concurrent writer committed a moment out of order.
    Walking the time index and looking up each row instead is ~8x slower over most of a log."""
    if not since:
        return "1"
    first = db.execute(f"SELECT min(rowid) FROM {table} WHERE time >= ?", (since,)).fetchone()[0]
    return "0" if first is None else f"i.rowid >= {int(first)} AND i.time >= :since"


def corpus_gaps(db: sqlite3.Connection, since: float, settings: LogSettings, embed: Callable,
                embedder_id: str | None) -> list[dict]:
    # Refused answers, and thumbs-down ones found from the (few) verdicts: one join per verdict, not per answer;
    # counted per question (case and outer spaces aside) by SQLite, newest first.
    clause = window(db, since)
    unmet = db.execute(
        "SELECT min(question), count(*), sum(refused), sum(down) FROM ("
        "SELECT i.time, i.question, 1 AS refused, coalesce(v.good = 0, 0) AS down FROM interactions i "
        f"LEFT JOIN verdicts v ON v.interaction_id = i.id WHERE {clause} AND i.refused = 1 UNION ALL "
        "SELECT i.time, i.question, 0, 1 FROM verdicts v JOIN interactions i ON i.id = v.interaction_id "
        f"WHERE v.good = 0 AND i.refused = 0 AND {clause}) "
        "GROUP BY lower(trim(question)) ORDER BY max(time) DESC LIMIT :newest",
        {"since": since, "newest": settings.gap_questions}).fetchall()
    if not unmet:
        return []
    unmet.sort(key=lambda row: (-row[1], row[0]))  # most asked first: they lead the groups
    vectors = question_vectors(db, [row[0] for row in unmet], embed, embedder_id)
    gaps = []
    for members in leader_groups(vectors, settings.gap_similarity):
        rows = [unmet[i] for i in members]
        gaps.append({"count": sum(r[1] for r in rows), "questions": len(rows), "refused": sum(r[2] for r in rows),
                     "thumbs_down": sum(r[3] for r in rows), "examples": [r[0] for r in rows[: settings.gap_examples]]})
    return sorted(gaps, key=lambda g: (-g["count"], g["examples"][0]))


def leader_groups(vectors: np.ndarray, similarity: float) -> list[list[int]]:
    """Rows of unit `vectors`, in order, grouped: each joins the most similar leader at `similarity` or more."""
    cosines = vectors @ vectors.T
    leaders: list[int] = []
    groups: list[list[int]] = []
    for row in range(len(vectors)):
        if leaders:
            to_leaders = cosines[row, leaders]
            best = int(np.argmax(to_leaders))
            if to_leaders[best] >= similarity:
                groups[best].append(row)
                continue
        leaders.append(row)
        groups.append([row])
    return groups


def question_vectors(db: sqlite3.Connection, questions: list[str], embed: Callable,
                     embedder_id: str | None) -> np.ndarray:
    """Unit vectors of `questions`, from the cache when `embedder_id` names the embedder, else embedded now."""
    if embedder_id is None:
        return unit(np.asarray(embed(questions), dtype=np.float32))
    keys = [hashlib.sha256(f"{embedder_id}\n{q}".encode("utf-8", "replace")).hexdigest() for q in questions]
    cached: dict[str, bytes] = {}
    for start in range(0, len(keys), LOOKUP_BATCH):
        batch = keys[start:start + LOOKUP_BATCH]
        cached.update(db.execute(f"SELECT key, vector FROM question_vectors WHERE key IN "
                                 f"({', '.join('?' * len(batch))})", batch).fetchall())
    missing = [i for i, key in enumerate(keys) if key not in cached]
    if missing:
        fresh = unit(np.asarray(embed([questions[i] for i in missing]), dtype=np.float32))
        new = {keys[i]: vector.tobytes() for i, vector in zip(missing, fresh)}
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR REPLACE INTO question_vectors (key, vector) VALUES (?, ?)", new.items())
            db.execute("COMMIT")
        except sqlite3.OperationalError:  # a read-only or busy log: the report stands, the next one embeds again
            if db.in_transaction:
                db.execute("ROLLBACK")
        cached.update(new)
    return np.stack([np.frombuffer(cached[key], dtype=np.float32) for key in keys])


def unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)
