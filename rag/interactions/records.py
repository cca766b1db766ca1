"""An answer as the log stores it, and as it reads it back (for `rag tune-data --feedback`)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ..types import Answer, Hit
from .redaction import redact

SURROGATE = re.compile("[\ud800-\udfff]")
HIT_FIELDS = ("chunk_id", "doc_id", "source", "title", "section", "page", "score", "similarity", "start", "end")


@dataclass
class Feedback:
    """An answer's current verdict: the latest value of each field given, and how many times it was judged."""

    good: bool | None
    correction: str | None
    source: str | None
    note: str | None
    count: int
    time: float

    def to_dict(self) -> dict:
        return {"good": self.good, "correction": self.correction, "source": self.source, "note": self.note,
                "count": self.count}


@dataclass
class Interaction:
    """One logged answer: the passages it was given (in prompt order) and its verdict, if any."""

    id: str
    time: float
    channel: str
    question: str
    search_query: str
    refused: bool
    answer: str
    adapter: str | None
    adapter_hash: str | None
    index_version: str
    hits: list[Hit] = field(default_factory=list)
    cited: list[int] = field(default_factory=list)  # the citation numbers, as "[n]" in the answer
    feedback: Feedback | None = None


def clean(text: str) -> str:
    """Text SQLite can store as UTF-8 (a lone surrogate from a hostile client becomes U+FFFD)."""
    return SURROGATE.sub("\ufffd", text)


def interaction_row(answer: Answer, interaction_id: str, time: float, channel: str, stages: dict,
                    index_version: str, adapter_hash: str | None, redacting: bool) -> dict:
    """The columns of the answer's row; passage texts are kept so the answer can be trained on as it was."""
    mask = redact if redacting else (lambda text: text)
    hits = [{"rank": rank, **{name: getattr(h, name) for name in HIT_FIELDS}, "text": h.text}
            for rank, h in enumerate(answer.hits, start=1)]
    citations = [{"n": c.n, "source": c.source, "title": c.title, "section": c.section, "page": c.page,
                  "chunk_id": c.chunk_id} for c in answer.citations]
    return {"id": interaction_id, "time": time, "channel": clean(channel), "question": clean(mask(answer.question)),
            "search_query": clean(mask(answer.search_query)), "refused": int(answer.refused),
            "evidence": float(answer.evidence), "answer": clean(mask(answer.text)), "model": clean(answer.model),
            "adapter": answer.adapter, "adapter_hash": adapter_hash, "index_version": index_version,
            "redacted": int(redacting), "citations": json.dumps(citations, ensure_ascii=False),
            # kept in tables of their own (rag.interactions.schema, version 2)
            "hits": json.dumps(hits, ensure_ascii=False),
            "stages": [(name, round(float(seconds), 6)) for name, seconds in stages.items()],
            "cited": sorted({c["source"] for c in citations})}


def interaction_from_row(row) -> Interaction:
    hits = [Hit(text=h["text"], **{name: h.get(name) for name in HIT_FIELDS}) for h in json.loads(row["hits"])]
    feedback = None
    if row["count"] is not None:
        feedback = Feedback(good=None if row["good"] is None else bool(row["good"]), correction=row["correction"],
                            source=row["source"], note=row["note"], count=row["count"], time=row["verdict_time"])
    return Interaction(id=row["id"], time=row["time"], channel=row["channel"], question=row["question"],
                       search_query=row["search_query"], refused=bool(row["refused"]), answer=row["answer"],
                       adapter=row["adapter"], adapter_hash=row["adapter_hash"], index_version=row["index_version"],
                       hits=hits, cited=[c["n"] for c in json.loads(row["citations"])], feedback=feedback)
