"""Ingest into real FAISS indexes on disk with the real embedding model."""
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

import rag
from rag.errors import IndexMismatchError, IndexNotFoundError
from rag.index import IndexStore

pytestmark = pytest.mark.slow


def chunk_texts(index: Path) -> list[str]:
    folder = IndexStore(index).current_dir()
    with sqlite3.connect(folder / "chunks.sqlite") as db:
        return sorted(t for (t,) in db.execute("SELECT text FROM chunks"))


def test_ingest_search_and_manifest(small_corpus, tmp_path):
    index = tmp_path / "idx"
    report = rag.ingest([small_corpus], index)
    assert (report.added, report.failed, report.version) == (3, [], "v000001")
    assert report.chunks == report.embedded > 3

    manifest = json.loads((index / "v000001" / "manifest.json").read_text())
    assert manifest["embedding"]["dimension"] == 384 and manifest["embedding"]["normalized"] is True
    assert manifest["format_version"] == 1 and len(manifest["sources"]) == 3
    assert {s["kind"] for s in manifest["sources"].values()} == {"markdown", "text", "html"}

    hits = rag.open(index).search("how big can the escrow cushion be?", k=3)
    assert hits[0].source.endswith("escrow.md") and hits[0].section == "Escrow basics > The cushion"
    assert "one-sixth" in hits[0].text and hits[0].page is None
    assert hits[0].score >= hits[1].score and -1.0 <= hits[0].similarity <= 1.0


def test_second_run_changes_nothing_and_edits_reembed_only_new_text(small_corpus, tmp_path):
    index = tmp_path / "idx"
    first = rag.ingest([small_corpus], index)
    again = rag.ingest([small_corpus], index)
    assert (again.unchanged, again.added, again.version) == (3, 0, first.version)

    escrow = small_corpus / "escrow.md"
    escrow.write_text(escrow.read_text()
                      + "\n## Waivers\n\nSome lenders let you pay taxes yourself if you put 20% down.\n")
    edited = rag.ingest([small_corpus], index)
    assert (edited.updated, edited.unchanged, edited.version) == (1, 2, "v000002")
    assert 1 <= edited.embedded < first.embedded  # unchanged chunks keep their vectors

    (small_corpus / "inspection.txt").unlink()
    removed = rag.ingest([small_corpus], index)
    assert removed.removed == 1
    assert not any("inspector" in h.text for h in rag.open(index).search("what does an inspector check", k=5))


def test_incremental_result_equals_from_scratch(small_corpus, tmp_path):
    index = tmp_path / "idx"
    rag.ingest([small_corpus], index)
    (small_corpus / "inspection.txt").rename(small_corpus / "inspection-renamed.txt")
    (small_corpus / "escrow.md").write_text("# Escrow\n\nEscrow pays taxes and insurance for you.\n")
    report = rag.ingest([small_corpus], index)
    assert report.renamed == 1 and report.updated == 1
    rag.ingest([small_corpus], tmp_path / "fresh")
    assert chunk_texts(index) == chunk_texts(tmp_path / "fresh")


def test_bad_files_are_reported_and_the_rest_indexed(small_corpus, tmp_path):
    (small_corpus / "empty.md").write_bytes(b"")
    (small_corpus / "binary.md").write_bytes(b"\x00\x01\x02\x03PK\x03\x04")
    (small_corpus / "broken.pdf").write_bytes(b"%PDF-1.7 nonsense")
    (small_corpus / "latin1.txt").write_bytes("Pr\u00eat \u00e0 taux fixe".encode("latin-1"))
    (small_corpus / "notes.docx").write_bytes(b"PK")
    report = rag.ingest([small_corpus], tmp_path / "idx")
    failed = {Path(p).name: reason for p, reason in report.failed}
    assert set(failed) == {"empty.md", "binary.md", "broken.pdf", "latin1.txt"}
    assert "empty" in failed["empty.md"] and "binary" in failed["binary.md"] and "UTF-8" in failed["latin1.txt"]
    assert [Path(p).name for p, _ in report.skipped] == ["notes.docx"]
    assert report.added == 3


def test_a_file_that_turns_bad_keeps_its_indexed_version(small_corpus, tmp_path):
    index = tmp_path / "idx"
    rag.ingest([small_corpus], index)
    (small_corpus / "escrow.md").write_bytes(b"\x00\x00garbage")
    report = rag.ingest([small_corpus], index)
    assert len(report.failed) == 1
    assert any("one-sixth" in t for t in chunk_texts(index))


def test_exact_duplicates_are_indexed_once_with_every_source(small_corpus, tmp_path):
    shutil.copy(small_corpus / "escrow.md", small_corpus / "escrow-copy.md")
    index = tmp_path / "idx"
    report = rag.ingest([small_corpus], index)
    assert report.added == 4
    texts = chunk_texts(index)
    assert len(texts) == len(set(texts))
    hit = rag.open(index).search("escrow cushion one-sixth", k=1)[0]
    assert {Path(hit.source).name, *(Path(p).name for p in hit.also_in)} == {"escrow.md", "escrow-copy.md"}


def test_opening_with_another_embedding_model_fails_clearly(small_corpus, tmp_path):
    index = tmp_path / "idx"
    rag.ingest([small_corpus], index)
    manifest_path = IndexStore(index).current_dir() / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["embedding"]["fingerprint"] = "0" * 64
    manifest["embedding"]["model"] = "some-other-model"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="some-other-model"):
        rag.open(index)
    manifest["format_version"] = 99
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="format version 99"):
        rag.open(index)


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexNotFoundError, match="rag ingest"):
        rag.open(tmp_path / "nothing-here")


def test_no_pickle_files_in_an_index(small_corpus, tmp_path):
    index = tmp_path / "idx"
    rag.ingest([small_corpus], index)
    for file in index.rglob("*"):
        if file.suffix == ".npy":
            assert file.read_bytes()[:6] == b"\x93NUMPY"
            import numpy as np
            np.load(file, allow_pickle=False)
        assert file.suffix not in {".pkl", ".pickle"}


def test_any_file_name_bytes_are_indexed_and_refreshed(small_corpus, tmp_path):
    """A name that is not UTF-8 once crashed the ingest (UnicodeEncodeError in doc_id)."""
    import os

    raw = os.path.join(os.fsencode(small_corpus), b"bad-\xff.md")
    with open(raw, "wb") as handle:
        handle.write(b"# Radon\n\nRadon is a gas that can enter through the foundation.\n")
    index = tmp_path / "idx"
    report = rag.ingest([small_corpus], index)
    assert (report.added, report.failed) == (4, [])
    hit = rag.open(index).search("radon gas foundation", k=1)[0]
    assert hit.source.endswith("bad-\\xff.md")  # shown escaped
    sources = json.loads((IndexStore(index).current_dir() / "manifest.json").read_text())["sources"]
    assert any(os.fsencode(s).endswith(b"bad-\xff.md") for s in sources)  # stored losslessly
    assert rag.refresh(index).unchanged == 4
    os.unlink(raw)
    assert rag.refresh(index).removed == 1


def test_a_document_without_a_single_search_term_is_indexed(tmp_path):
    """bm25s once failed on it: "max() arg is an empty sequence"."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\nx y z\n")
    report = rag.ingest([tmp_path / "docs"], tmp_path / "idx")
    assert (report.added, report.chunks) == (1, 1)
    assert rag.open(tmp_path / "idx").search("x y z", k=1)


def test_a_folder_without_supported_files_is_an_error_unless_the_index_exists(small_corpus, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.docx").write_bytes(b"PK")
    with pytest.raises(rag.RagError, match=r"contains no supported files \(.md .txt .html .pdf\)"):
        rag.ingest([empty], tmp_path / "idx")
    assert not (tmp_path / "idx" / "CURRENT").exists()
    index = tmp_path / "kept"
    rag.ingest([small_corpus], index)
    for file in small_corpus.iterdir():
        file.unlink()
    assert rag.refresh(index).removed == 3  # an index that exists follows its folder, even to empty


def test_the_doctype_is_not_a_passage(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.html").write_text("<!doctype html><html><body><p>Escrow pays taxes.</p></body></html>")
    rag.ingest([tmp_path / "docs"], tmp_path / "idx")
    assert chunk_texts(tmp_path / "idx") == ["Escrow pays taxes."]
