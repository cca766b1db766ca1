"""The interaction log: ids, migration from an older schema, retention, redaction, feedback, concurrent writers."""
import json
import multiprocessing
import sqlite3
import threading
import time

import pytest

from rag.errors import ConfigError, RagError
from rag.interactions import FeedbackError, InteractionLog, UnknownInteraction
from rag.interactions.redaction import redact
from rag.interactions.schema import SCHEMA_VERSION, V1
from rag.settings import LogSettings, Settings
from rag.types import Answer, Citation

from .conftest import hit


def answer(question="How much are closing costs?", refused=False, text="They run 2% to 5% [1].", source="closing.md"):
    passage = hit("Closing costs run 2% to 5% of the loan amount.", source, 1)
    citations = [] if refused else [Citation(1, source, "T", "S", None, 1, passage.text)]
    return Answer(question=question, text=text, refused=refused, citations=citations, hits=[passage],
                  search_query=question, evidence=0.8, model="replay", adapter="adapters/homeowner")


def new_log(tmp_path, **settings) -> InteractionLog:
    return InteractionLog(tmp_path / "log.sqlite3", LogSettings(**settings))


def test_an_answer_is_recorded_with_everything_needed_to_judge_and_retrain_it(tmp_path):
    log = new_log(tmp_path)
    interaction_id = log.record(answer(), channel="cli", stages={"retrieval": 0.01, "total": 0.5},
                                index_version="v000003", adapter_hash="abc123")
    stored = log.get(interaction_id)
    assert (stored.question, stored.channel, stored.index_version, stored.adapter_hash) == (
        "How much are closing costs?", "cli", "v000003", "abc123")
    assert stored.hits[0].text == "Closing costs run 2% to 5% of the loan amount." and stored.cited == [1]
    assert stored.feedback is None
    assert log.record(answer(), channel="cli", stages={}, index_version="v") != interaction_id


def test_a_log_from_schema_version_1_opens_migrated(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(V1)
    db.execute("INSERT INTO interactions VALUES ('old1', ?, 'q?', 'q?', 1, 0.1, 'no', 'm', NULL, 'v1', 2.5, "
               "'[]', '[]')", (time.time(),))
    db.executemany("INSERT INTO feedback (interaction_id, time, good, correction, note) VALUES (?, ?, ?, ?, ?)",
                   [("old1", 1.0, 1, None, "first"), ("old1", 2.0, 0, "Better answer.", None)])
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()

    log = InteractionLog(path, LogSettings())
    assert log.migrated_from == 1
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    old = log.get("old1")
    assert old.channel == "unknown" and old.feedback.good is False and old.feedback.correction == "Better answer."
    assert old.feedback.note == "first" and old.feedback.count == 2
    assert log.stats()["latency_s"]["total"]["p50"] == 2.5  # the old single latency became the "total" stage
    assert log.feedback("old1", good=True)["count"] == 3
    assert InteractionLog(path, LogSettings()).migrated_from == SCHEMA_VERSION  # opened again: nothing to do


def test_a_log_from_a_newer_program_is_refused_in_one_line(tmp_path):
    path = tmp_path / "new.sqlite3"
    sqlite3.connect(path).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RagError, match="newer than this program"):
        InteractionLog(path, LogSettings())


def test_a_file_that_is_not_a_log_is_a_config_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("just some notes, not SQLite " * 100)
    with pytest.raises(ConfigError, match="log.path"):
        InteractionLog(path, LogSettings())


def test_retention_keeps_the_newest_rows_and_drops_their_feedback(tmp_path):
    log = new_log(tmp_path, retention_rows=3, retention_days=0)
    ids = [log.record(answer(f"q{n}?"), channel="cli", stages={"total": 1.0}, index_version="v") for n in range(5)]
    log.feedback(ids[0], good=False)
    log.feedback(ids[4], good=True)
    assert log.prune() == 2 and log.count() == 3
    db = sqlite3.connect(log.path)
    assert [db.execute(f"SELECT count(DISTINCT interaction_id) FROM {table}").fetchone()[0]
            for table in ("passages", "stage_seconds", "cited", "feedback", "verdicts")] == [3, 3, 3, 1, 1]
    assert [i.id for i in log.judged()] == [ids[4]]
    with pytest.raises(UnknownInteraction, match="retention"):
        log.feedback(ids[0], good=True)


def test_retention_by_age(tmp_path):
    log = new_log(tmp_path, retention_days=30, retention_rows=0)
    log.record(answer("old?"), channel="cli", stages={}, index_version="v", at=time.time() - 31 * 86400)
    kept = log.record(answer("new?"), channel="cli", stages={}, index_version="v")
    assert log.prune() == 1 and log.get(kept).question == "new?" and log.count() == 1


def test_redaction_masks_contact_and_account_numbers_but_not_the_figures_asked_about():
    text = ("I'm jane.doe+home@example.co.uk, call (555) 123-4567 or +1 555.987.6543; loan 1234 5678 9012 and "
            "account 00123456789, IBAN DE89370400440532013000. Can I put $90,000 or 20% down on a 30-year loan "
            "in 2024, with 3.5% at 620?")
    assert redact(text) == ("I'm [email], call [phone] or [phone]; loan [number] and account [number], IBAN [number]. "
                            "Can I put $90,000 or 20% down on a 30-year loan in 2024, with 3.5% at 620?")


def test_a_redacting_log_stores_the_masked_question(tmp_path):
    question = "My loan number is 4400123456789, email bob@example.com: when can I cancel PMI?"
    redacting = new_log(tmp_path, redact=True)
    stored = redacting.get(redacting.record(answer(question), channel="http", stages={}, index_version="v"))
    assert stored.question == "My loan number is [number], email [email]: when can I cancel PMI?"
    interaction_id = redacting.record(answer(question), channel="http", stages={}, index_version="v")
    assert redacting.feedback(interaction_id, correction="Write to me at bob@example.com", note="or 555-123-4567")[
        "correction"] == "Write to me at [email]"
    assert redacting.get(interaction_id).feedback.note == "or [phone]"
    plain = InteractionLog(tmp_path / "plain.sqlite3", LogSettings())
    assert plain.get(plain.record(answer(question), channel="http", stages={}, index_version="v")).question == question


def test_repeated_feedback_keeps_the_latest_of_each_field_and_counts_all(tmp_path):
    log = new_log(tmp_path)
    interaction_id = log.record(answer(), channel="cli", stages={}, index_version="v")
    assert log.feedback(interaction_id, good=True)["count"] == 1
    verdict = log.feedback(interaction_id, good=False, correction="Closing costs run 2% to 5%.",
                           source="closing.md#2", note="  too vague  ")
    assert verdict == {"id": interaction_id, "good": False, "correction": "Closing costs run 2% to 5%.",
                       "source": "closing.md#2", "note": "too vague", "count": 2}
    verdict = log.feedback(interaction_id, note="second thoughts")
    assert (verdict["good"], verdict["source"], verdict["note"], verdict["count"]) == (
        False, "closing.md#2", "second thoughts", 3)
    assert log.feedback(interaction_id, correction="They are 2% to 5% of the loan.")["source"] is None


@pytest.mark.parametrize("fields, named", [
    ({}, "at least one"), ({"good": "yes"}, "good"), ({"correction": 5}, "correction"),
    ({"correction": "x" * 4001}, "correction"), ({"note": ["a"]}, "note"),
    ({"correction": "Fine.", "source": "#3"}, "source"), ({"correction": "Fine.", "source": "a.pdf#0"}, "source"),
    ({"source": "a.pdf#2"}, "correction too"), ({"correction": "   "}, "at least one")])
def test_bad_feedback_fields_are_named(tmp_path, fields, named):
    log = new_log(tmp_path)
    interaction_id = log.record(answer(), channel="cli", stages={}, index_version="v")
    with pytest.raises(FeedbackError, match=named):
        log.feedback(interaction_id, **fields)
    assert log.judged() == []


@pytest.mark.parametrize("bad_id", ["nope", "", "' OR 1=1 --", None, 42])
def test_feedback_on_an_unknown_id_is_refused(tmp_path, bad_id):
    with pytest.raises(UnknownInteraction, match="no answer with id"):
        new_log(tmp_path).feedback(bad_id, good=True)


def test_hostile_text_is_stored_not_crashed_on(tmp_path):
    log = new_log(tmp_path)
    interaction_id = log.record(answer("lone \ud800 surrogate\x00 and nul?"), channel="http", stages={},
                                index_version="v")
    assert log.get(interaction_id).question == "lone \ufffd surrogate\x00 and nul?"
    assert log.feedback(interaction_id, correction="fine \udfff")["correction"] == "fine \ufffd"


def test_concurrent_threads_lose_no_row(tmp_path):
    log = new_log(tmp_path)
    ids: list[str] = []

    def write(worker: int):
        for n in range(40):
            interaction_id = log.record(answer(f"w{worker} q{n}?"), channel="http", stages={"total": 0.1},
                                        index_version="v")
            log.feedback(interaction_id, good=n % 2 == 0)
            ids.append(interaction_id)

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert log.count() == len(set(ids)) == 320
    stats = log.stats()
    assert (stats["questions"], stats["judged"], stats["thumbs_down"]) == (320, 320, 160)


def _write_from_a_process(path: str, worker: int, rows: int) -> None:
    log = InteractionLog(path, LogSettings())
    for n in range(rows):
        log.feedback(log.record(answer(f"p{worker} q{n}?"), channel="cli", stages={}, index_version="v"), good=True)


def test_concurrent_processes_lose_no_row(tmp_path):
    path = tmp_path / "shared.sqlite3"
    context = multiprocessing.get_context("spawn")  # fresh interpreters, as separate `rag ask` runs are
    processes = [context.Process(target=_write_from_a_process, args=(str(path), worker, 30)) for worker in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    log = InteractionLog(path, LogSettings())
    assert log.count() == 120 and len(log.judged()) == 120
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_log_settings_are_validated(tmp_path):
    with pytest.raises(ConfigError, match="log.retention_days"):
        Settings.load(overrides={"log.retention_days": -1})
    with pytest.raises(ConfigError, match="log.gap_similarity"):
        Settings.load(overrides={"log.gap_similarity": 1.5})
    with pytest.raises(ConfigError, match="log.path .* inside the index"):
        Settings.load(overrides={"index": str(tmp_path / "idx"), "log.path": str(tmp_path / "idx" / "log.db")})
    assert json.dumps(Settings.load().to_dict()["log"])
