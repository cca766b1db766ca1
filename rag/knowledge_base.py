"""The facade chat apps and scripts use: open an index, search it, ask it."""
from __future__ import annotations

import contextvars
import dataclasses
import logging
import sqlite3
import threading
import time
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Iterator, Sequence

from .answering import Answerer
from .embedding import embedder_from_settings
from .errors import ConfigError
from .evidence import EvidenceModel
from .generation import generator_from_settings
from .index import IndexStore, Snapshot
from .interactions import InteractionLog, LogUnavailable, log_from_settings
from .prompting import PromptTemplate
from .retrieval import Retriever, ranker_from_settings
from .selection import SentenceSelector
from .settings import Settings
from .types import Answer, Hit

# The seconds each running answer has spent so far per stage; set around every step of its stream, so the
# search wrapper adds to the answer it is working for, whichever thread steps it.
_STAGES: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar("rag_stages", default=None)
logger = logging.getLogger(__name__)


class KnowledgeBase:
    """A live index. Thread-safe; picks up a newer index version on the next query."""

    channel = "python"  # where questions come from, as the log records them, when a call does not say

    def __init__(self, index: str | Path | None = None, settings: Settings | None = None):
        self.settings = settings or Settings.load()
        self.store = IndexStore(index or self.settings.index)
        self.embedder = embedder_from_settings(self.settings, queries=True)
        self._lock = threading.Lock()
        self._snapshot = self._open(self.store.current_dir())
        self._log_unavailable: LogUnavailable | None = None
        try:
            self.log: InteractionLog | None = log_from_settings(self.settings, self.store.root)
        except LogUnavailable as exc:  # a damaged or unwritable log costs the record, never the answers
            logger.warning("%s; answering without logging", exc)
            self.log, self._log_unavailable = None, exc
        self._adapter_hashes: dict[str, str | None] = {}

    def _open(self, folder: Path) -> Snapshot:
        snapshot = Snapshot(folder, self.settings.vectors.blas_min_queries)
        try:
            snapshot.manifest.check_embedding(self.embedder.fingerprint, self.store.root)
        except Exception:
            snapshot.close()
            raise
        return snapshot

    @property
    def snapshot(self) -> Snapshot:
        """The live version, reloaded when a refresh has switched CURRENT."""
        version = self.store.current_version()
        with self._lock:
            if version and version != self._snapshot.version:
                self._snapshot = self._open(self.store.root / version)
            return self._snapshot

    @property
    def manifest(self):
        return self.snapshot.manifest

    @cached_property
    def ranker(self):
        """How retrieval orders its candidates (`retrieval.fusion`), read once."""
        return ranker_from_settings(self.settings.retrieval)

    def retriever(self) -> Retriever:
        """A retriever over the live version."""
        return Retriever(self.snapshot, self.embedder, self.settings.retrieval, self.ranker)

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        return self.retriever().search(query, k)

    def _timed_search(self, query: str, k: int | None = None) -> list[Hit]:
        """`search`, its seconds added to the running answer's "retrieval" stage."""
        started = time.perf_counter()
        try:
            return self.search(query, k)
        finally:
            stages = _STAGES.get()
            if stages is not None:
                stages["retrieval"] = stages.get("retrieval", 0.0) + time.perf_counter() - started

    @cached_property
    def answerer(self) -> Answerer:
        gen = self.settings.generation
        template = PromptTemplate(**{name: value for name, value in (
            ("system", gen.system_prompt), ("passage", gen.passage_template), ("user", gen.user_template)) if value})
        evidence = EvidenceModel.load(gen.evidence_model)  # before the model loads: a wrong path fails fast
        if gen.adapter and not (Path(gen.adapter) / "adapter_config.json").is_file():
            raise ConfigError(f"generation.adapter: no PEFT adapter at {gen.adapter} (no adapter_config.json); "
                              "point it at a folder written by 'rag tune', or set it to \"\" (or use --no-adapter) "
                              "for the base model")
        answering = self.settings.answering
        selector = SentenceSelector.load(answering.selector) if answering.use_selector else None
        generator = generator_from_settings(self.settings)
        return Answerer(self._timed_search, self.embedder.embed, generator, evidence, k=gen.passages,
                        context_tokens=gen.context_tokens, max_new_tokens=gen.max_new_tokens, template=template,
                        reranking=gen.rerank, candidates=gen.rerank_candidates, policy=answering, selector=selector)

    def ask(self, question: str, history: Sequence[dict] | None = None, *, channel: str | None = None) -> Answer:
        """A grounded answer with citations, or a refusal when the documents don't say; logged under its `id`."""
        *_, answer = self.stream(question, history, channel=channel)
        return answer

    def stream(self, question: str, history: Sequence[dict] | None = None, *,
               channel: str | None = None) -> Iterator[str | Answer]:
        """Like `ask`, but yields the answer's text as it is generated, then the `Answer` (with its log id).
        `channel` says where the question came from ("cli", "http", "python"), as the log records it."""
        return self._logged(self.answerer.stream(question, history), channel or self.channel)

    def _logged(self, pieces: Iterator[str | Answer], channel: str) -> Iterator[str | Answer]:
        """The answer's stream, timed stage by stage; the finished answer recorded and given its id."""
        stages: dict[str, float] = {}
        started = time.perf_counter()
        try:
            while True:
                token = _STAGES.set(stages)
                try:
                    item = next(pieces)
                except StopIteration:
                    return
                finally:
                    _STAGES.reset(token)
                if isinstance(item, Answer):
                    stages["total"] = time.perf_counter() - started
                    yield self._record(item, channel, stages)
                    continue
                stages.setdefault("first_piece", time.perf_counter() - started)
                yield item
        finally:
            pieces.close()  # a reader that stops early (a closed connection) stops the generation at once

    def _record(self, answer: Answer, channel: str, stages: dict[str, float]) -> Answer:
        if self.log is None:
            return answer
        try:
            interaction_id = self.log.record(answer, channel=channel, stages={**answer.timings, **stages},
                                             index_version=self._snapshot.version,
                                             adapter_hash=self._adapter_hash(answer.adapter))
        except (sqlite3.Error, OSError) as exc:  # a full disk or a stuck lock must not cost the homeowner the answer
            logger.warning("interaction log %s: answer not recorded (%s)", self.log.path, exc)
            return answer
        return dataclasses.replace(answer, id=interaction_id)

    def _adapter_hash(self, adapter: str | None) -> str | None:
        """The adapter's content hash (first 16 hex digits), so feedback names the exact weights that earned it."""
        if not adapter:
            return None
        if adapter not in self._adapter_hashes:
            from .tuning.registry import adapter_hash  # the registry names promoted adapters by the same hash

            folder = Path(adapter)
            self._adapter_hashes[adapter] = adapter_hash(folder)[:16] if folder.is_dir() else None
        return self._adapter_hashes[adapter]

    def feedback(self, interaction_id: str, **fields) -> dict:
        """Judge a logged answer: good=True/False, correction="…", source="FILE#PAGE", note="…"."""
        return self._require_log().feedback(interaction_id, **fields)

    def stats(self, since: datetime | None = None) -> dict:
        """The log's figures and corpus gaps (questions grouped with this knowledge base's embedder)."""
        return self._require_log().stats(since, embed=self.embedder.embed, embedder_id=self.embedder.fingerprint)

    def _require_log(self) -> InteractionLog:
        if self._log_unavailable is not None:
            raise self._log_unavailable
        if self.log is None:
            raise ConfigError("the interaction log is off (log.enabled = false or --no-log); turn it on to give "
                              "feedback or read stats")
        return self.log

    def info(self) -> dict:
        snapshot = self.snapshot
        return {"index": str(self.store.root), "version": snapshot.version, **snapshot.manifest.__dict__}


def open_index(index: str | Path | None = None, settings: Settings | None = None,
               use_adapter: bool = True) -> KnowledgeBase:
    """Open an index; `use_adapter=False` answers with the base model, without the LoRA adapter."""
    settings = settings or Settings.load()
    if not use_adapter:
        settings = settings.with_overrides(generation__adapter="")
    return KnowledgeBase(index, settings)
