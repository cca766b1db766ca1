"""Hybrid retrieval: FAISS inner product and BM25, their candidates ordered by one ranker (`rag.fusion`).

Dense search finds paraphrases; BM25 finds exact terms (form names, figures,
statute wording) that a small embedder blurs. Their union is ordered by the
learned ranker (default) or reciprocal-rank fusion; with `hybrid` off, by cosine
alone. Hits that repeat a higher hit almost word for word (cosine above
`near_duplicate`) are dropped so the k slots carry k different passages.
"""
from __future__ import annotations

from .embedding import Embedder
from .errors import ConfigError
from .fusion import Candidate, LearnedRanker, ReciprocalRankFusion, order
from .index import Snapshot, vectors
from .scanning import resolve_stored
from .settings import FUSIONS, RetrievalSettings
from .types import Hit


def ranker_from_settings(settings: RetrievalSettings):
    """The ranker `retrieval.fusion` names (the learned one read from `retrieval.ranker`)."""
    if settings.fusion == "rrf":
        return ReciprocalRankFusion(settings.rrf_k, settings.lexical_weight)
    if settings.fusion == "learned":
        return LearnedRanker.load(settings.ranker)
    raise ConfigError(f"retrieval.fusion is {settings.fusion!r}; choose one of: {', '.join(FUSIONS)}")


class Retriever:
    def __init__(self, snapshot: Snapshot, embedder: Embedder, settings: RetrievalSettings, ranker=None):
        self.snapshot = snapshot
        self.embedder = embedder
        self.settings = settings
        self.ranker = ranker if ranker is not None else ranker_from_settings(settings)

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        k = k or self.settings.k
        if not query.strip() or k <= 0:
            return []
        query_vector = self.embedder.embed_query(query)
        candidates, rows = self.candidates(query, query_vector, max(self.settings.candidates, k * 4),
                                           with_text=self.settings.hybrid and self.ranker.needs_text)
        if self.settings.hybrid:
            ranked = order(query, candidates, self.ranker)
        else:
            ranked = [(c, c.similarity) for c in candidates]
        chosen, chosen_vectors = [], []
        for candidate, score in ranked:
            vector = self.snapshot.vectors.reconstruct(candidate.chunk_id)
            if any(float(vector @ other) >= self.settings.near_duplicate for other in chosen_vectors):
                continue
            chosen.append((candidate, score))
            chosen_vectors.append(vector)
            if len(chosen) == k:
                break
        return self._hits(chosen, rows)

    def candidates(self, query: str, query_vector, n: int,
                   with_text: bool = True) -> tuple[list[Candidate], dict[int, dict]]:
        """Dense search's n best and BM25's n best (with `hybrid`), each with what both searches say of it,
        and, `with_text`, with its text and headings (and their stored rows, returned to build hits from)."""
        dense = vectors.search(self.snapshot.vectors, query_vector, n)
        lexical = self.snapshot.lexical.search(query, n) if self.settings.hybrid and self.snapshot.lexical else []
        similarity = dict(dense)
        dense_rank = {chunk_id: rank for rank, (chunk_id, _) in enumerate(dense)}
        lexical_rank = {chunk_id: rank for rank, (chunk_id, _) in enumerate(lexical)}
        lexical_score = dict(lexical)
        ids = list(dict.fromkeys([chunk_id for chunk_id, _ in dense] + [chunk_id for chunk_id, _ in lexical]))
        for chunk_id in ids:
            if chunk_id not in similarity:  # found by BM25 only
                similarity[chunk_id] = float(self.snapshot.vectors.reconstruct(chunk_id) @ query_vector)
        rows = self.snapshot.metadata.hit_rows(ids) if with_text else {}
        candidates = []
        for chunk_id in ids:
            row = rows.get(chunk_id)
            first = row["occurrences"][0] if row else {}
            candidates.append(Candidate(
                chunk_id, similarity[chunk_id], lexical_score.get(chunk_id, 0.0), dense_rank.get(chunk_id),
                lexical_rank.get(chunk_id), row["text"] if row else "",
                f"{first.get('title', '')} {first.get('section', '')}".strip()))
        return candidates, rows

    def _hits(self, chosen: list[tuple[Candidate, float]], rows: dict[int, dict]) -> list[Hit]:
        missing = [c.chunk_id for c, _ in chosen if c.chunk_id not in rows]
        rows = {**rows, **self.snapshot.metadata.hit_rows(missing)} if missing else rows
        root = self.snapshot.folder.parent
        hits = []
        for candidate, score in chosen:
            row = rows[candidate.chunk_id]
            first, *others = row["occurrences"]
            hits.append(Hit(
                score=round(score, 6), text=row["text"], source=str(resolve_stored(first["source"], root)),
                title=first["title"], section=first["section"], page=first["page"], chunk_id=candidate.chunk_id,
                doc_id=first["doc_id"], similarity=round(candidate.similarity, 6),
                lexical_score=round(candidate.lexical, 4), start=first["start"], end=first["end"],
                also_in=sorted({str(resolve_stored(o["source"], root)) for o in others} - {first["source"]}),
            ))
        return hits
