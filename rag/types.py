"""Plain data passed between pipeline stages."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Section:
    """A run of text under one heading path, on one page (PDF) or none."""

    text: str
    headings: tuple[str, ...] = ()
    page: int | None = None


@dataclass
class Document:
    """One source file after loading and cleaning."""

    source: str
    title: str
    kind: str
    sections: list[Section]

    SEPARATOR = "\n\n"

    @property
    def text(self) -> str:
        return self.SEPARATOR.join(s.text for s in self.sections)

    def section_offsets(self) -> list[int]:
        """Character offset of each section inside `text`."""
        offsets, pos = [], 0
        for section in self.sections:
            offsets.append(pos)
            pos += len(section.text) + len(self.SEPARATOR)
        return offsets


@dataclass
class Chunk:
    """A passage small enough for the embedder, with its provenance."""

    text: str
    embed_text: str
    doc_id: str
    source: str
    title: str
    headings: tuple[str, ...]
    page: int | None
    start: int
    end: int
    ordinal: int

    @property
    def section(self) -> str:
        return " > ".join(self.headings)


@dataclass
class Hit:
    """A retrieved passage. `score` orders hits; `similarity` is the cosine."""

    score: float
    text: str
    source: str
    title: str
    section: str
    page: int | None
    chunk_id: int
    doc_id: str
    similarity: float
    lexical_score: float = 0.0
    start: int = 0
    end: int = 0
    also_in: list[str] = field(default_factory=list)

    @property
    def labelled_text(self) -> str:
        """Title, section and text: every word the passage shows, as checks against it read it."""
        return f"{self.title} {self.section} {self.text}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    renamed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    chunks: int = 0
    embedded: int = 0
    seconds: float = 0.0
    version: str = ""

    def to_dict(self) -> dict:
        data = asdict(self)
        data["failed"] = [{"path": p, "reason": r} for p, r in self.failed]
        data["skipped"] = [{"path": p, "reason": r} for p, r in self.skipped]
        return data


@dataclass(frozen=True)
class Citation:
    """A passage the answer cites: `n` is its number in the prompt, as in "[2]"."""

    n: int
    source: str
    title: str
    section: str
    page: int | None
    chunk_id: int
    text: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """A finished answer, built once by the answering pipeline: the text (or the refusal), the passages
    it cites, the passages retrieved for it, and how sure the evidence gate was."""

    question: str
    text: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    search_query: str = ""
    evidence: float = 0.0  # estimated probability that the passages answer the question
    model: str = ""
    adapter: str | None = None
    id: str | None = None  # the interaction log's id for this answer (feedback names it); None when logging is off
    # Seconds per answering stage, when the answering pipeline measures them (e.g. "rerank", "generation");
    # the log stores them beside the stages the knowledge base times itself.
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)
