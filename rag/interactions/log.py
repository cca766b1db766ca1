"""`InteractionLog`: answers and feedback in one SQLite file (WAL), shared safely by threads and processes."""
from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

from ..errors import ConfigError
from ..settings import LogSettings, Settings
from ..types import Answer
from .feedback import UnknownInteraction, checked_fields
from .records import Interaction, interaction_from_row, interaction_row
from .redaction import redact
from .schema import migrate

BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another process's write; each write takes milliseconds
SIDE_TABLES = ("hits", "stages", "cited")  # row fields stored beside the answer, linked by its id
PRUNE_EVERY = 1000  # answers recorded between retention passes (a pass is a few indexed deletes)


def default_log_path() -> Path:
    from platformdirs import user_data_path

    return user_data_path("rag") / "interactions.sqlite3"


class LogUnavailable(ConfigError):
    """The log file cannot be opened or created (damaged, unwritable): answering goes on without it."""


def log_from_settings(settings: Settings, index: Path | None = None) -> "InteractionLog | None":
    """The log `settings.log` describes, or None when logging is off. Refused inside `index` (or the settings'
    index), checked before anything is created: an index folder holds only what its manifest describes."""
    if not settings.log.enabled:
        return None
    path = Path(settings.log.path).expanduser() if settings.log.path else default_log_path()
    index = Path(index or settings.index)
    if index.resolve() in path.resolve().parents:
        raise ConfigError(f"log.path ({path}) is inside the index {index}; put the log elsewhere (or leave "
                          "log.path empty for the per-user data folder)")
    return InteractionLog(path, settings.log)


def insert_row(db: sqlite3.Connection, row: dict) -> None:
    """One answer's row (`records.interaction_row`): its passages in their own table."""
    columns = [column for column in row if column not in SIDE_TABLES]
    db.execute(f"INSERT INTO interactions ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})",
               row)
    db.execute("INSERT INTO passages (interaction_id, hits) VALUES (:id, :hits)", row)
    db.executemany("INSERT INTO stage_seconds (interaction_id, time, stage, seconds) VALUES (?, ?, ?, ?)",
                   [(row["id"], row["time"], stage, seconds) for stage, seconds in row["stages"]])
    db.executemany("INSERT INTO cited (interaction_id, time, source) VALUES (?, ?, ?)",
                   [(row["id"], row["time"], source) for source in row["cited"]])


def _delete_answers(db: sqlite3.Connection, condition: str, parameters: tuple) -> int:
    """Delete the answers matching `condition` and their rows in the other tables (found by id: the cost is in
    proportion to what is deleted, not to the log)."""
    doomed = f"SELECT id FROM interactions WHERE {condition}"
    for table in ("passages", "stage_seconds", "cited", "feedback", "verdicts"):
        db.execute(f"DELETE FROM {table} WHERE interaction_id IN ({doomed})", parameters)
    return db.execute(f"DELETE FROM interactions WHERE {condition}", parameters).rowcount


def timestamp(moment: datetime | float | None) -> float:
    if moment is None:
        return 0.0
    return moment.timestamp() if isinstance(moment, datetime) else float(moment)


class InteractionLog:
    """Append answers, attach feedback, read figures. One connection per instance, guarded by a lock (writes
    are serialised by SQLite anyway); other processes are other connections, coordinated by SQLite's locks."""

    def __init__(self, path: Path, settings: LogSettings | None = None):
        self.path = Path(path)
        self.settings = settings or LogSettings()
        self._lock = threading.Lock()
        self._recorded = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._connect()
            self.migrated_from = migrate(self._db, self.path)
            self.prune()
        except sqlite3.DatabaseError as exc:
            raise LogUnavailable(f"log.path: cannot use {self.path} as the interaction log ({exc}); point log.path "
                              "at a writable file, or turn logging off (--no-log, or log.enabled = false)") from None
        except OSError as exc:
            raise LogUnavailable(f"log.path: cannot create {self.path.parent} ({exc.strerror or exc}); point "
                              "log.path elsewhere, or turn logging off (--no-log)") from None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")  # in WAL: a crash loses nothing, a power cut the last few rows
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, statements: Callable[[sqlite3.Connection], object]):
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = statements(self._db)
                self._db.execute("COMMIT")
                return result
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def record(self, answer: Answer, *, channel: str, stages: dict[str, float], index_version: str,
               adapter_hash: str | None = None, at: float | None = None) -> str:
        """Store the answer; its id. `stages` are seconds per stage (e.g. retrieval, first_piece, total)."""
        interaction_id = secrets.token_hex(8)
        row = interaction_row(answer, interaction_id, time.time() if at is None else at, channel, stages,
                              index_version, adapter_hash, self.settings.redact)
        self._write(lambda db: insert_row(db, row))
        self._recorded += 1
        if self._recorded % PRUNE_EVERY == 0:
            self.prune()
        return interaction_id

    def feedback(self, interaction_id: str, *, good: bool | None = None, correction: str | None = None,
                 source: str | None = None, note: str | None = None) -> dict:
        """Store a feedback event; the answer's verdict after it (latest value of each field, count of events)."""
        fields = checked_fields(good, correction, source, note, self.settings.max_feedback_chars)
        if self.settings.redact:
            fields.update({name: redact(fields[name]) for name in ("correction", "note") if fields[name]})
        now = time.time()

        def store(db: sqlite3.Connection) -> dict:
            if not isinstance(interaction_id, str) or db.execute("SELECT 1 FROM interactions WHERE id = ?",
                                                                 (interaction_id,)).fetchone() is None:
                raise UnknownInteraction(f"no answer with id {interaction_id!r} in the interaction log {self.path} "
                                         "(mistyped, from another log, or deleted by the retention limit)")
            db.execute("INSERT INTO feedback (interaction_id, time, good, correction, source, note) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (interaction_id, now, fields["good"], fields["correction"],
                                                     fields["source"], fields["note"]))
            # A correction and the source it rests on belong together: a new correction replaces both.
            db.execute("""INSERT INTO verdicts (interaction_id, time, good, correction, source, note, count)
                          VALUES (:id, :time, :good, :correction, :source, :note, 1)
                          ON CONFLICT(interaction_id) DO UPDATE SET time = excluded.time,
                              good = coalesce(excluded.good, good),
                              source = CASE WHEN excluded.correction IS NULL THEN source ELSE excluded.source END,
                              correction = coalesce(excluded.correction, correction),
                              note = coalesce(excluded.note, note), count = count + 1""",
                       {"id": interaction_id, "time": now, **fields})
            return self._verdict(db, interaction_id)

        return self._write(store)

    @staticmethod
    def _verdict(db: sqlite3.Connection, interaction_id: str) -> dict:
        row = db.execute("SELECT good, correction, source, note, count FROM verdicts WHERE interaction_id = ?",
                         (interaction_id,)).fetchone()
        return {"id": interaction_id, "good": None if row["good"] is None else bool(row["good"]),
                "correction": row["correction"], "source": row["source"], "note": row["note"], "count": row["count"]}

    def get(self, interaction_id: str) -> Interaction:
        rows = self._interactions("i.id = ?", (interaction_id,))
        if not rows:
            raise UnknownInteraction(f"no answer with id {interaction_id!r} in the interaction log {self.path}")
        return rows[0]

    def judged(self, since: datetime | float | None = None) -> list[Interaction]:
        """Every answer that has feedback, oldest first (what `rag tune-data --feedback` reads)."""
        return self._interactions("v.count IS NOT NULL AND i.time >= ?", (timestamp(since),))

    def _interactions(self, where: str, parameters: tuple) -> list[Interaction]:
        with self._lock:
            rows = self._db.execute(
                "SELECT i.*, p.hits, v.good, v.correction, v.source, v.note, v.count, v.time AS verdict_time "
                "FROM interactions i JOIN passages p ON p.interaction_id = i.id "
                f"LEFT JOIN verdicts v ON v.interaction_id = i.id WHERE {where} "
                "ORDER BY i.time, i.rowid", parameters).fetchall()
        return [interaction_from_row(row) for row in rows]

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM interactions").fetchone()[0]

    def prune(self) -> int:
        """Apply the retention limits (days, rows); the answers deleted, with everything stored beside them."""
        days, rows = self.settings.retention_days, self.settings.retention_rows

        def delete(db: sqlite3.Connection) -> int:
            deleted = 0
            if days:
                deleted += _delete_answers(db, "time < ?", (time.time() - days * 86400,))
            if rows:
                newest = db.execute("SELECT rowid FROM interactions ORDER BY rowid DESC LIMIT 1 OFFSET ?",
                                    (rows,)).fetchone()
                deleted += _delete_answers(db, "rowid <= ?", (newest[0],)) if newest else 0
            return deleted

        return self._write(delete)

    def stats(self, since: datetime | float | None = None, embed: Callable | None = None,
              embedder_id: str | None = None) -> dict:
        """The monitoring figures and corpus gaps (rag.interactions.stats); the gaps need `embed`, and reuse
        vectors cached under `embedder_id` when given."""
        from .stats import compute_stats

        db = self._connect()  # its own connection: in WAL a long read does not hold up answers being recorded
        try:
            return compute_stats(db, timestamp(since), self.settings, embed, embedder_id)
        finally:
            db.close()
