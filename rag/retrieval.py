"""Hybrid retrieval: FAISS inner product and BM25, fused by reciprocal rank.

Dense search finds paraphrases; BM25 finds exact terms (form names, figures,
statute wording) that a small embedder blurs. Reciprocal-rank fusion needs no
score calibration between the two. Hits that repeat a higher hit almost word
for word (cosine above `near_duplicate`) are dropped so the k slots carry k
different passages.
"""
from __future__ import annotations


from .embedding import Embedder
from .index import Snapshot, vectors
from .scanning import resolve_stored
from .settings import RetrievalSettings
from .types import Hit


class Retriever:
    def __init__(self, snapshot: Snapshot, embedder: Embedder, settings: RetrievalSettings):
        self.snapshot = snapshot
        self.embedder = embedder
        self.settings = settings

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        k = k or self.settings.k
        if not query.strip() or k <= 0:
            return []
        n = max(self.settings.candidates, k * 4)
        query_vector = self.embedder.embed_query(query)
        dense = vectors.search(self.snapshot.vectors, query_vector, n)
        lexical = self.snapshot.lexical.search(query, n) if self.settings.hybrid and self.snapshot.lexical else []
        fused = self._fuse(dense, lexical)
        similarity = dict(dense)
        chosen, chosen_vectors = [], []
        for chunk_id, score in fused:
            vector = self.snapshot.vectors.reconstruct(chunk_id)
            if any(float(vector @ other) >= self.settings.near_duplicate for other in chosen_vectors):
                continue
            similarity.setdefault(chunk_id, float(vector @ query_vector))
            chosen.append((chunk_id, score))
            chosen_vectors.append(vector)
            if len(chosen) == k:
                break
        return self._hits(chosen, similarity, dict(lexical))

    def _fuse(self, dense, lexical) -> list[tuple[int, float]]:
        scores: dict[int, float] = {}
        for weight, ranking in ((1.0, dense), (self.settings.lexical_weight, lexical)):
            for rank, (chunk_id, _) in enumerate(ranking):
                scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (self.settings.rrf_k + rank + 1)
        return sorted(scores.items(), key=lambda item: (-item[1], item[0]))

    def _hits(self, chosen, similarity, lexical_scores) -> list[Hit]:
        rows = self.snapshot.metadata.hit_rows([cid for cid, _ in chosen])
        root = self.snapshot.folder.parent
        hits = []
        for chunk_id, score in chosen:
            row = rows[chunk_id]
            first, *others = row["occurrences"]
            hits.append(Hit(
                score=round(score, 6), text=row["text"], source=str(resolve_stored(first["source"], root)),
                title=first["title"], section=first["section"], page=first["page"], chunk_id=chunk_id,
                doc_id=first["doc_id"], similarity=round(similarity[chunk_id], 6),
                lexical_score=round(lexical_scores.get(chunk_id, 0.0), 4), start=first["start"], end=first["end"],
                also_in=sorted({str(resolve_stored(o["source"], root)) for o in others} - {first["source"]}),
            ))
        return hits


