"""Ingest: scan → load → clean → chunk → embed → write a new index version.

The per-file work and the embedding run through an engine (rag/engines/: this process, or a Ray
cluster); what is decided and written — dedup, reuse, the index files, the version switch, the
writer's lock — is decided and written here, by this process.

Incremental: a file whose bytes are unchanged keeps its chunks without being
read again, and any chunk whose text already has a vector keeps that vector, so
cost follows what changed. A file that fails to load is reported and, if an
earlier version of it was indexed, that version stays.
"""
from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .chunking import CHUNKER_VERSION
from .embedding import Embedder, embedder_from_settings
from .engines import Engine, open_engine
from .errors import IndexMismatchError, RagError
from .index import IndexStore, Manifest, Snapshot
from .index import lexical, metadata, vectors
from .index.metadata import ChunkRow, Occurrence
from .index.store import utc_now
from .isolation import FAILED, UNCHANGED, FileJob
from .scanning import display_path, file_sha256, resolve_stored, scan, stored_path
from .settings import Settings
from .types import IngestReport


@dataclass
class _Doc:
    stored: str
    sha256: str
    title: str
    kind: str
    # Either fresh chunks (text, embed_text, section, page, start, end) or occurrences carried over.
    fresh: list[tuple] = field(default_factory=list)
    carried: list[Occurrence] = field(default_factory=list)

    @property
    def doc_id(self) -> str:
        return hashlib.sha1(os.fsencode(self.stored)).hexdigest()[:16]  # any bytes a file name may hold


def ingest(paths, index=None, settings: Settings | None = None, *, progress: bool = False,
           wait: bool = False, log=None, engine: str | Engine | None = None, address: str | None = None
           ) -> IngestReport:
    """Index the files under `paths` into `index`; documents gone from those paths are removed.
    `engine`: "local" or "ray" (default: setting ingest.engine), or an engine object; `address`: the Ray
    cluster (default: setting ingest.ray_address)."""
    settings = settings or Settings.load()
    started = time.perf_counter()
    store = IndexStore(index or settings.index)
    if engine is None or isinstance(engine, str):
        embedder = embedder_from_settings(settings, threads=os.cpu_count() or 1)  # an ingest is the only job
        runner = open_engine(engine or settings.ingest.engine, settings, embedder, address)
    else:
        runner, embedder = engine, engine.embedder
    try:
        return _ingest(paths, store, settings, runner, embedder, progress, wait, log, started)
    finally:
        if runner is not engine:  # the caller closes an engine it passed in
            runner.close()


def _ingest(paths, store, settings, engine, embedder, progress, wait, log, started) -> IngestReport:
    found = scan(list(paths))
    # A broken or outside link holds no document of this folder: it is reported on every run, as passed over,
    # and does not make a run "partly failed" (a refresh that meets nothing new exits 0).
    report = IngestReport(skipped=found.skipped + found.broken)
    with store.writing(wait=wait):
        if not found.files and store.current_version() is None:
            raise RagError(_nothing_to_index(paths, found))
        previous = _previous(store, embedder, settings, log)
        try:
            plan, failures = _plan(found, store.root, previous, embedder, settings, report, engine)
            changed = report.added + report.updated + report.removed + report.renamed
            if previous is not None and not changed and failures == previous.manifest.failed:
                report.version = previous.version
                report.chunks = previous.metadata.count("chunks")
            else:
                report.version = _write(store, plan, failures, found, previous, embedder, engine, settings, report,
                                        progress)
        finally:
            if previous is not None:
                previous.close()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _nothing_to_index(paths, found) -> str:
    named = ", ".join(display_path(p) for p in paths)
    other = f" ({len(found.skipped) + len(found.broken)} other files were skipped or broken)" \
        if found.skipped or found.broken else ""
    return f"{named} contains no supported files (.md .txt .html .pdf){other}; nothing was indexed"


def refresh(index=None, settings: Settings | None = None, **options) -> IngestReport:
    """Re-scan every source path the index records: new, changed, renamed and deleted files.
    A recorded path that has disappeared entirely is reported, and its documents are kept."""
    settings = settings or Settings.load()
    store = IndexStore(index or settings.index)
    roots = [resolve_stored(r, store.root) for r in Manifest.read(store.current_dir()).roots]
    present = [r for r in roots if r.exists()]
    if not present:
        raise RagError(f"none of the source paths recorded in {store.root} exist any more: "
                       f"{', '.join(map(str, roots))}; ingest the new location with 'rag ingest'")
    report = ingest(present, store.root, settings, **options)
    report.failed += [(str(r), "source path is missing; its documents were kept") for r in roots if r not in present]
    return report


def _previous(store: IndexStore, embedder: Embedder, settings: Settings, log) -> Snapshot | None:
    """The live version if it can be extended; None (full rebuild) if the model or chunker changed."""
    if store.current_version() is None:
        return None
    snapshot = Snapshot(store.current_dir())
    try:
        snapshot.manifest.check_embedding(embedder.fingerprint, store.root)
        if snapshot.manifest.chunking != _chunking_settings(settings, embedder):
            raise IndexMismatchError("chunking settings changed")
    except IndexMismatchError as exc:
        if log:
            log(f"notice: {exc}; rebuilding every document of {store.root} from its source")
        snapshot.close()
        return _StaleSources(snapshot.manifest)
    return snapshot


class _StaleSources:
    """Stands for an index that must be rebuilt: its sources are re-read, nothing is reused."""

    def __init__(self, manifest: Manifest):
        self.manifest = manifest

    def close(self) -> None:
        pass


def _plan(found, root: Path, previous, embedder: Embedder, settings: Settings, report: IngestReport,
          engine: Engine) -> tuple[list[_Doc], dict[str, dict]]:
    """The documents of the new version, and the files that could not be indexed (by stored path).
    A file that failed before and still holds the same bytes is not read again: it is listed as skipped
    with its old reason, so a refresh that meets nothing new succeeds."""
    old_sources = dict(previous.manifest.sources) if previous is not None else {}
    reusable = isinstance(previous, Snapshot)
    old_failures = dict(previous.manifest.failed) if reusable else {}
    failures: dict[str, dict] = {}
    chunking = _chunking_settings(settings, embedder)
    plan: dict[str, _Doc] = {}
    files = list(found.files)
    if not reusable:  # a rebuild re-reads every source the old index knew
        files += [p for s in old_sources if (p := resolve_stored(s, root)).is_file() and p not in found.files]
    jobs = []
    for number, path in enumerate(files):
        stored = stored_path(path, root)
        known = old_failures.get(stored) or (old_sources.get(stored) if reusable else None)  # bytes last seen there
        jobs.append(FileJob(number, str(path.absolute()), known["sha256"] if known else None,
                            int(settings.ingest.max_file_mb * 1024 * 1024), str(embedder.path),
                            chunking["max_tokens"], chunking["overlap_tokens"], settings.ingest.file_timeout_s,
                            settings.ingest.file_memory_mb))
    results = engine.prepare_files(jobs)
    for number, path in enumerate(files):
        stored = stored_path(path, root)
        old = old_sources.get(stored)
        failed_before = old_failures.get(stored)
        result = results[number]
        if result["status"] == UNCHANGED and failed_before:  # the very bytes that failed last time
            report.skipped.append((display_path(path), f"unchanged since it failed: {failed_before['reason']}"))
            failures[stored] = failed_before
        elif result["status"] == FAILED:
            report.failed.append((display_path(path), result["reason"]))
            failures[stored] = {"sha256": result.get("sha256") or _sha256_or_empty(path), "reason": result["reason"]}
        if stored in failures:
            if reusable and old:  # keep what was indexed before
                doc = _Doc(stored, old["sha256"], old["title"], old["kind"])
                doc.carried = previous.metadata.occurrences_of_document(doc.doc_id)
                plan[stored] = doc
        elif result["status"] == UNCHANGED:
            doc = _Doc(stored, result["sha256"], old["title"], old["kind"])
            doc.carried = previous.metadata.occurrences_of_document(doc.doc_id)
            plan[stored] = doc
            report.unchanged += 1
        else:
            doc = _Doc(stored, result["sha256"], result["title"], result["kind"])
            doc.fresh = [tuple(chunk) for chunk in result["chunks"]]
            plan[stored] = doc
            if old:
                report.updated += 1
            else:
                report.added += 1
    _account_removals(found, root, old_sources, plan, report)
    if reusable:  # documents outside this run's paths stay as they were
        for stored, old in old_sources.items():
            if stored not in plan and not _under_roots(resolve_stored(stored, root), found.roots):
                doc = _Doc(stored, old["sha256"], old["title"], old["kind"])
                doc.carried = previous.metadata.occurrences_of_document(doc.doc_id)
                plan[stored] = doc
    return [plan[s] for s in sorted(plan)], failures


def _sha256_or_empty(path: Path) -> str:
    try:
        return file_sha256(path)
    except OSError:
        return ""  # unreadable: it will be tried again next time


def _account_removals(found, root, old_sources, plan, report) -> None:
    new_hashes = {d.sha256 for s, d in plan.items() if s not in old_sources}
    for stored, old in old_sources.items():
        if stored in plan or not _under_roots(resolve_stored(stored, root), found.roots):
            continue
        if old["sha256"] in new_hashes:  # same bytes at a new path: a rename
            report.renamed += 1
            report.added -= 1
            new_hashes.discard(old["sha256"])
        else:
            report.removed += 1


def _under_roots(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def dedup_key(text: str) -> str:
    """Passages equal up to case, spacing and punctuation share one key (and one vector)."""
    folded = re.sub(r"[\W_]+", " ", text.casefold()).strip()
    return hashlib.sha256(folded.encode()).hexdigest()


def _write(store, plan, failures, found, previous, embedder, engine, settings, report, progress) -> str:
    reusable = isinstance(previous, Snapshot)
    old_rows = {r.id: r for r in previous.metadata.chunk_rows()} if reusable else {}
    old_by_key = {r.key: r for r in old_rows.values()}
    old_vectors = vectors.all_vectors(previous.vectors) if reusable else {}
    next_id = max(old_rows, default=0) + 1
    rows: dict[str, ChunkRow] = {}
    occurrences: list[Occurrence] = []
    for doc in plan:
        entries = [(old_rows[o.chunk_id].text, old_rows[o.chunk_id].embed_text, o.section, o.page, o.start, o.end)
                   for o in doc.carried] + doc.fresh
        for ordinal, (text, embed_text, section, page, start, end) in enumerate(entries):
            key = dedup_key(text)
            if key not in rows:
                if key in old_by_key:
                    rows[key] = old_by_key[key]
                else:
                    rows[key] = ChunkRow(next_id, key, text, embed_text)
                    next_id += 1
            occurrences.append(Occurrence(rows[key].id, doc.doc_id, ordinal, section, page, start, end))
    new_rows = [r for r in rows.values() if r.id not in old_vectors]
    by_id = dict(old_vectors)
    fresh = engine.embed([r.embed_text for r in new_rows], progress=progress) if new_rows else None
    by_id.update(zip((r.id for r in new_rows), fresh if fresh is not None else []))
    # A refresh that only removes or renames needs no model: the dimension is in the old manifest.
    if fresh is not None:
        dimension = fresh.shape[1]
    else:
        dimension = previous.manifest.embedding["dimension"] if reusable else engine.dimension()
    ids = np.array([r.id for r in rows.values()], dtype=np.int64)
    matrix = np.stack([by_id[i] for i in ids]) if len(ids) else np.zeros((0, dimension), np.float32)
    report.embedded, report.chunks = len(new_rows), len(rows)

    staged = store.new_version_dir()
    name = store.next_version_name()
    vectors.write(vectors.build(matrix, ids, dimension, settings.vectors), staged)
    metadata.write(staged, [(d.doc_id, display_path(d.stored), d.title, d.kind, d.sha256) for d in plan],
                   rows.values(), occurrences)
    lexical.build_and_write([r.embed_text for r in rows.values()], ids, staged)
    chunk_counts: dict[str, int] = {}
    for o in occurrences:
        chunk_counts[o.doc_id] = chunk_counts.get(o.doc_id, 0) + 1
    old_roots = previous.manifest.roots if previous is not None else []
    Manifest(
        embedding={"model": embedder.name, "path": str(embedder.path), "fingerprint": embedder.fingerprint,
                   "dimension": dimension, "normalized": True, "metric": "inner_product",
                   "max_tokens": embedder.max_tokens},
        chunking=_chunking_settings(settings, embedder),
        lexical=dict(lexical.SETTINGS),
        sources={d.stored: {"sha256": d.sha256, "doc_id": d.doc_id, "title": d.title, "kind": d.kind,
                            "chunks": chunk_counts.get(d.doc_id, 0)} for d in plan},
        roots=sorted(set(old_roots) | {stored_path(r, store.root) for r in found.roots}),
        counts={"documents": len(plan), "chunks": len(rows), "occurrences": len(occurrences)},
        failed=failures, created=utc_now(), version=name,
    ).write(staged)
    store.commit(staged, name)
    return name


def _chunking_settings(settings: Settings, embedder: Embedder) -> dict:
    return {"max_tokens": min(settings.chunking.max_tokens, embedder.max_tokens),
            "overlap_tokens": settings.chunking.overlap_tokens, "chunker_version": CHUNKER_VERSION}
