"""The log's tables, and the migrations that bring a log written by any earlier version up to date.

The schema version is SQLite's `user_version`. A new log runs every migration from 0, so the path an old
log takes is the path every log takes. Migrations only add: an older program reading a newer log is refused.
"""
from __future__ import annotations

import sqlite3

from ..errors import RagError

# Version 1: answers and feedback events.
V1 = """
CREATE TABLE interactions (
    id TEXT PRIMARY KEY, time REAL NOT NULL, question TEXT NOT NULL, search_query TEXT NOT NULL,
    refused INTEGER NOT NULL, evidence REAL NOT NULL, answer TEXT NOT NULL, model TEXT NOT NULL,
    adapter TEXT, index_version TEXT NOT NULL, latency_s REAL NOT NULL, citations TEXT NOT NULL, hits TEXT NOT NULL);
CREATE INDEX interactions_time ON interactions(time);
CREATE TABLE feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, interaction_id TEXT NOT NULL, time REAL NOT NULL,
    good INTEGER, correction TEXT, note TEXT);
CREATE INDEX feedback_interaction ON feedback(interaction_id);
"""

# Version 2: the channel, the adapter's hash, the redaction flag; seconds per stage and the cited documents as
# rows (summed by SQLite: no JSON read per answer); the passages in a table of their own (the figures never read
# through kilobytes of passage text per answer); a feedback event may name its source; each answer's verdict
# (latest value of each field, count of events) beside the events; cached question vectors for the gaps report.
# The *_figures and *_order indexes hold every column `rag stats` reads, so it reads no table row.
V2 = """
CREATE TABLE answers (
    id TEXT PRIMARY KEY, time REAL NOT NULL, channel TEXT NOT NULL, question TEXT NOT NULL,
    search_query TEXT NOT NULL, refused INTEGER NOT NULL, evidence REAL NOT NULL, answer TEXT NOT NULL,
    model TEXT NOT NULL, adapter TEXT, adapter_hash TEXT, index_version TEXT NOT NULL,
    redacted INTEGER NOT NULL, citations TEXT NOT NULL);
INSERT INTO answers SELECT id, time, 'unknown', question, search_query, refused, evidence, answer, model, adapter,
    NULL, index_version, 0, citations FROM interactions;
CREATE TABLE passages (interaction_id TEXT PRIMARY KEY, hits TEXT NOT NULL);
INSERT INTO passages SELECT id, hits FROM interactions;
CREATE TABLE stage_seconds (interaction_id TEXT NOT NULL, time REAL NOT NULL, stage TEXT NOT NULL,
    seconds REAL NOT NULL);
INSERT INTO stage_seconds SELECT id, time, 'total', latency_s FROM interactions;
CREATE INDEX stage_seconds_interaction ON stage_seconds(interaction_id);
CREATE INDEX stage_seconds_order ON stage_seconds(stage, seconds, time);
CREATE TABLE cited (interaction_id TEXT NOT NULL, time REAL NOT NULL, source TEXT NOT NULL);
INSERT INTO cited SELECT i.id, i.time, json_extract(c.value, '$.source') FROM interactions i, json_each(i.citations) c;
CREATE INDEX cited_interaction ON cited(interaction_id);
CREATE INDEX cited_figures ON cited(source, time);
DROP TABLE interactions;
ALTER TABLE answers RENAME TO interactions;
CREATE INDEX interactions_time ON interactions(time);
CREATE INDEX interactions_figures ON interactions(adapter, adapter_hash, channel, time, refused);
ALTER TABLE feedback ADD COLUMN source TEXT;
CREATE TABLE verdicts (
    interaction_id TEXT PRIMARY KEY, time REAL NOT NULL, good INTEGER, correction TEXT, source TEXT, note TEXT,
    count INTEGER NOT NULL);
INSERT INTO verdicts (interaction_id, time, good, correction, source, note, count)
    SELECT f.interaction_id, max(f.time),
        (SELECT good FROM feedback g WHERE g.interaction_id = f.interaction_id AND good IS NOT NULL
         ORDER BY g.id DESC LIMIT 1),
        (SELECT correction FROM feedback g WHERE g.interaction_id = f.interaction_id AND correction IS NOT NULL
         ORDER BY g.id DESC LIMIT 1),
        NULL,
        (SELECT note FROM feedback g WHERE g.interaction_id = f.interaction_id AND note IS NOT NULL
         ORDER BY g.id DESC LIMIT 1),
        count(*)
    FROM feedback f GROUP BY f.interaction_id;
CREATE INDEX verdicts_good ON verdicts(good);
CREATE TABLE question_vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL);
"""

MIGRATIONS = (V1, V2)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(connection: sqlite3.Connection, path) -> int:
    """Bring the log at `path` to SCHEMA_VERSION, each step in its own transaction; the version it had."""
    connection.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then find nothing to do
    try:
        found = connection.execute("PRAGMA user_version").fetchone()[0]
        if found > SCHEMA_VERSION:
            raise RagError(f"interaction log {path} has schema version {found}, newer than this program's "
                           f"{SCHEMA_VERSION}; upgrade rag, or point log.path at another file")
        for version in range(found, SCHEMA_VERSION):
            for statement in _statements(MIGRATIONS[version]):
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {version + 1}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return found


def _statements(script: str) -> list[str]:
    """The script's statements (executescript would commit the migration's transaction halfway)."""
    statements, pending = [], ""
    for line in script.strip().splitlines():
        pending += line + "\n"
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    return statements
