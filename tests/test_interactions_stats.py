"""What the knowledge base logs for each answer, and what `stats` reads from the log (stand-in models only)."""
import sqlite3
import time
from pathlib import Path
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from rag import KnowledgeBase, Settings
from rag.answering import Answerer
from rag.errors import ConfigError
from rag.interactions import InteractionLog
from rag.settings import LogSettings
from rag.types import Answer

from .conftest import FakeEmbedder, ReplayGenerator, evidence, hit

PASSAGES = [hit("Closing costs run 2% to 5% of the loan amount. They are listed on the Closing Disclosure.",
                "closing.md", 1, title="Closing costs", section="Closing costs"),
            hit("Private mortgage insurance ends automatically when the balance reaches 78 percent of the "
                "original value.", "pmi.md", 2, title="PMI", section="PMI")]


def stand_in(kb: KnowledgeBase, reply: str) -> KnowledgeBase:
    """The real knowledge base (bundled index, real log) answering PASSAGES with a replayed reply."""
    embedder = FakeEmbedder()

    def search(query, k=None):
        cosines = embedder.embed([query]) @ embedder.embed([p.text for p in PASSAGES]).T
        return [PASSAGES[i] for i in np.argsort(-cosines[0], kind="stable")[:k]]

    kb.search, kb.embedder = search, embedder
    kb.__dict__["answerer"] = Answerer(kb._timed_search, embedder.embed, ReplayGenerator(reply), evidence(0.2), k=2,
                                       context_tokens=2048, max_new_tokens=100)
    return kb


@pytest.fixture()
def knowledge_base(tmp_path):
    settings = Settings.load(overrides={"log.path": str(tmp_path / "log.sqlite3")})
    return stand_in(KnowledgeBase(settings=settings), "Closing costs run 2% to 5% of the loan amount [1].")


def test_ask_and_stream_log_each_answer_and_return_its_id(knowledge_base):
    answered = knowledge_base.ask("How much are closing costs?")
    *pieces, streamed = knowledge_base.stream("What is the capital of France?", channel="http")
    assert answered.id and streamed.id and answered.id != streamed.id and streamed.refused
    assert "".join(pieces) == streamed.text
    logged = knowledge_base.log.get(answered.id)
    assert (logged.channel, logged.question, logged.refused) == ("python", "How much are closing costs?", False)
    assert logged.index_version == knowledge_base.snapshot.version
    assert knowledge_base.log.get(streamed.id).channel == "http"
    stages = knowledge_base.stats()["latency_s"]
    assert {"retrieval", "first_piece", "total"} <= set(stages) and stages["total"]["n"] == 2
    assert stages["retrieval"]["p50"] <= stages["total"]["p50"]


def test_feedback_through_the_knowledge_base(knowledge_base):
    answered = knowledge_base.ask("How much are closing costs?")
    assert knowledge_base.feedback(answered.id, good=False, correction="They run 2% to 5% of the loan amount.",
                                   source="closing.md")["count"] == 1
    assert knowledge_base.stats()["corrections"] == 1


def test_logging_off_gives_no_id_and_no_log(tmp_path):
    settings = Settings.load(overrides={"log.enabled": False, "log.path": str(tmp_path / "log.sqlite3")})
    kb = stand_in(KnowledgeBase(settings=settings), "Closing costs run 2% to 5% of the loan amount [1].")
    assert kb.log is None and kb.ask("How much are closing costs?").id is None
    assert not (tmp_path / "log.sqlite3").exists()
    with pytest.raises(ConfigError, match="log is off"):
        kb.stats()


def test_a_log_that_cannot_be_written_does_not_cost_the_answer(knowledge_base, caplog):
    knowledge_base.log.close()  # every write now fails as a broken disk would
    answered = knowledge_base.ask("How much are closing costs?")
    assert answered.id is None and "Closing costs run 2% to 5%" in answered.text
    assert "not recorded" in caplog.text


def test_a_log_inside_the_index_is_refused_before_anything_is_written(tmp_path):
    settings = Settings.load()
    before = sorted(Path(settings.index).rglob("*"))
    settings.log.path = str(settings.index) + "/log.sqlite3"  # as a caller might set it after validation
    with pytest.raises(ConfigError, match="inside the index"):
        KnowledgeBase(settings=settings)
    assert sorted(Path(settings.index).rglob("*")) == before


def logged(log: InteractionLog, question: str, refused: bool, good: bool | None = None, at: float | None = None,
           source: str = "closing.md") -> str:
    answer = Answer(question=question, text="The documents don't say." if refused else "An answer [1].",
                    refused=refused, hits=[hit("p", source)], search_query=question, model="replay")
    interaction_id = log.record(answer, channel="http", stages={"total": 1.0}, index_version="v", at=at)
    if good is not None:
        log.feedback(interaction_id, good=good)
    return interaction_id


def test_stats_groups_refused_and_thumbs_down_questions_by_meaning(tmp_path):
    log = InteractionLog(tmp_path / "log.sqlite3", LogSettings(gap_similarity=0.5, gap_examples=2))
    for question in ("How do I repair a leaking roof?", "How do I repair a leaking roof?",
                     "Who can repair my leaking roof?", "Leaking roof repair cost?"):
        logged(log, question, refused=True)
    logged(log, "When is the property tax bill due?", refused=False, good=False)
    logged(log, "Property tax bill due date?", refused=True)
    logged(log, "How much are closing costs?", refused=False, good=True)  # answered well: no gap
    logged(log, "What is escrow?", refused=False)  # answered, not judged: no gap
    stats = log.stats(embed=FakeEmbedder().embed)
    assert stats["questions"] == 8 and stats["refused"] == 5 and stats["refusal_rate"] == 0.625
    assert stats["thumbs_down"] == 1 and stats["thumbs_down_rate"] == 0.5
    assert stats["gaps"] == [
        {"count": 4, "questions": 3, "refused": 4, "thumbs_down": 0,
         "examples": ["How do I repair a leaking roof?", "Leaking roof repair cost?"]},
        {"count": 2, "questions": 2, "refused": 1, "thumbs_down": 1,
         "examples": ["Property tax bill due date?", "When is the property tax bill due?"]}]


def test_stats_since_counts_only_the_recent_answers_and_caches_question_vectors(tmp_path):
    log = InteractionLog(tmp_path / "log.sqlite3", LogSettings())
    logged(log, "An old refused question about roofs?", refused=True, at=time.time() - 10 * 86400)
    logged(log, "A recent refused question about roofs?", refused=True)
    calls = []

    def embed(texts):
        calls.append(list(texts))
        return FakeEmbedder().embed(texts)

    week = datetime.now(timezone.utc) - timedelta(days=7)
    first = log.stats(since=week, embed=embed, embedder_id="fake")
    assert first["questions"] == 1 and first["gaps"][0]["examples"] == ["A recent refused question about roofs?"]
    assert log.stats(since=week, embed=embed, embedder_id="fake")["gaps"] == first["gaps"]
    assert calls == [["A recent refused question about roofs?"]]  # the second report embedded nothing
    assert sqlite3.connect(log.path).execute("SELECT count(*) FROM question_vectors").fetchone()[0] == 1
    assert log.stats()["questions"] == 2 and log.stats()["gaps"] is None  # no embedder: no gaps


def test_stats_of_an_empty_log(tmp_path):
    stats = InteractionLog(tmp_path / "log.sqlite3", LogSettings()).stats(embed=FakeEmbedder().embed)
    assert stats["questions"] == 0 and stats["refusal_rate"] is None and stats["gaps"] == []
    assert stats["latency_s"] == {} and stats["adapter_in_use"] is None
