"""Finding the files to ingest: any tree a filesystem allows."""
import os
from pathlib import Path

from rag.scanning import display_path, scan, stored_path

from .hostile_files import remove_tree


def test_a_tree_deeper_than_the_recursion_limit_is_scanned(tmp_path: Path):
    """os.walk recurses (Python < 3.12): 1,100 nested folders raised RecursionError."""
    cursor = os.open(tmp_path, os.O_RDONLY)
    for _ in range(1100):
        os.mkdir("d", dir_fd=cursor)
        inner = os.open("d", os.O_RDONLY, dir_fd=cursor)
        os.close(cursor)
        cursor = inner
    handle = os.open("bottom.md", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=cursor)
    os.close(handle)
    os.close(cursor)
    (tmp_path / "top.md").write_text("# Top\n")
    try:
        found = scan([tmp_path])
    finally:
        remove_tree(tmp_path / "d")  # pytest's own clean-up recurses
    assert [p.name for p in found.files] == ["bottom.md", "top.md"]


def test_undecodable_names_are_kept_losslessly_and_reported_escaped(tmp_path: Path):
    raw = os.path.join(os.fsencode(tmp_path), b"bad-\xff.md")
    open(raw, "wb").close()
    folder = os.fsencode(tmp_path)
    os.symlink(os.path.join(folder, b"gone-\xfe.md"), os.path.join(folder, b"dangling-\xfe.md"))
    found = scan([tmp_path])
    assert [os.fsencode(p) for p in found.files] == [raw]
    stored = stored_path(found.files[0], tmp_path / "idx")
    assert os.fsencode(stored) == b"../bad-\xff.md" and display_path(stored) == "../bad-\\xff.md"
    assert [Path(p).name for p, _ in found.broken] == ["dangling-\\xfe.md"]
