"""Find the files an ingest covers and name them the way the index stores them."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from .cleaning import display_path
from .errors import RagError
from .loaders import is_supported

__all__ = ["Scan", "display_path", "file_sha256", "resolve_stored", "scan", "stored_path"]


@dataclass
class Scan:
    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    broken: list[tuple[str, str]] = field(default_factory=list)
    roots: list[Path] = field(default_factory=list)


def scan(paths: list[str | Path]) -> Scan:
    """Supported files under `paths`, sorted; hidden entries and directory links are not followed."""
    if not paths:
        raise RagError("no paths given; name at least one file or folder to ingest")
    result = Scan()
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists() and not path.is_symlink():
            raise RagError(f"{display_path(path)} does not exist; check the path")
        result.roots.append(path.absolute())
        if path.is_dir():
            root = path.resolve()
            for file in _walk(path):
                _add(file, result, root)
        else:
            _add(path, result)
    result.files = sorted(set(result.files))
    return result


def _walk(top: Path):
    """Files under `top`, not hidden, in sorted order; directory links are not followed. A loop of
    explicit stack, not recursion: a tree may be nested deeper than Python's recursion limit."""
    pending = [top]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as entries:
                visible = sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)
        except OSError:  # unreadable or vanished folder: what it holds cannot be listed
            continue
        subfolders = []
        for entry in visible:
            try:
                is_folder, is_link = entry.is_dir(), entry.is_symlink()
            except OSError:
                is_folder, is_link = False, False
            if not is_folder:
                yield Path(entry.path)
            elif not is_link:
                subfolders.append(Path(entry.path))
        pending.extend(reversed(subfolders))


def _add(path: Path, result: Scan, root: Path | None = None) -> None:
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        result.broken.append((display_path(path), "broken or looping symbolic link"))
        return
    if root is not None and target != root and root not in target.parents:
        result.broken.append((display_path(path), f"links outside the source folder {display_path(root)}; not indexed"))
    elif not path.is_file():
        result.skipped.append((display_path(path), "not a regular file"))
    elif not is_supported(path):
        result.skipped.append((display_path(path), f"unsupported file type '{display_path(path.suffix or '(none)')}'"))
    else:
        result.files.append(path.absolute())


def stored_path(path: Path, index_root: Path) -> str:
    """Relative to the index when both live in one tree, so a cloned repo's index still resolves."""
    path, index_root = path.absolute(), index_root.absolute()
    common = Path(os.path.commonpath([path, index_root]))
    if common == Path(common.anchor):
        return path.as_posix()
    return Path(os.path.relpath(path, index_root)).as_posix()


def resolve_stored(stored: str, index_root: Path) -> Path:
    return Path(os.path.normpath(index_root.absolute() / stored))


def file_sha256(path: Path, digest=None) -> str:
    """sha256 of a file's bytes, read in blocks (any size in bounded memory); `digest` continues a running one."""
    digest = digest or hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_sha256(folder: Path, suffixes: set[str]) -> str:
    """sha256 over the files under `folder` whose suffix is in `suffixes`, names and bytes, in sorted order:
    any change to a model's configuration or weights shows."""
    digest = hashlib.sha256()
    for file in sorted(f for f in folder.rglob("*") if f.is_file() and f.suffix in suffixes):
        digest.update(file.relative_to(folder).as_posix().encode())
        file_sha256(file, digest)
    return digest.hexdigest()
