"""What a response may show of the machine: names, never absolute paths.

A source is shown relative to the folder that holds the root it was ingested from, so it starts with the
root's own name ("homeowner/buying/appraisal.md"): readable, unambiguous across several roots, and
nothing of where the server keeps its files. The model and adapter are shown by file or folder name.
"""
from __future__ import annotations

from pathlib import Path, PurePath

from ..index import Snapshot
from ..scanning import display_path, resolve_stored
from ..types import Answer, Citation, Hit


class PublicPaths:
    def __init__(self, snapshot: Snapshot, index_root: Path):
        roots = [resolve_stored(r, index_root) for r in snapshot.manifest.roots]
        # the deepest root first: a root inside another root names its own files
        self.roots = sorted(roots, key=lambda p: len(p.parts), reverse=True)

    def source(self, path: str) -> str:
        absolute = Path(path)
        shown = next((absolute.relative_to(root.parent).as_posix() for root in self.roots
                      if absolute.is_relative_to(root)), absolute.name)
        return display_path(shown)

    def hit(self, hit: Hit) -> dict:
        return {**hit.to_dict(), "source": self.source(hit.source), "also_in": [self.source(s) for s in hit.also_in]}

    def citation(self, citation: Citation) -> dict:
        return {**citation.to_dict(), "source": self.source(citation.source)}

    def answer(self, answer: Answer) -> dict:
        return {**answer.to_dict(), "hits": [self.hit(h) for h in answer.hits],
                "citations": [self.citation(c) for c in answer.citations],
                "model": name(answer.model), "adapter": name(answer.adapter) if answer.adapter else None}

    def stats(self, figures: dict) -> dict:
        """`rag stats`' figures with documents and adapters shown by name."""
        adapters = [{**a, "adapter": name(a["adapter"])} for a in figures["adapters"]]
        return {**figures, "adapters": adapters, "adapter_in_use": adapters[0] if adapters else None,
                "most_cited": [{**d, "source": self.source(d["source"])} for d in figures["most_cited"]]}


def name(path: str) -> str:
    """A model or adapter as its file or folder name ("" stays "")."""
    return display_path(PurePath(path).name) if path else path
