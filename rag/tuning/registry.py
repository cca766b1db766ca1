"""The adapters that have been promoted, and which one is in use: switched atomically, rolled back in one step.

Layout (in the per-user data folder, `adapters/`; a person can read it without the code):

    <name>-<hash12>/   a promoted adapter, copied whole: retraining into the folder it came from later
                       cannot change what is in use (the hash is of its files)
    CURRENT.json       {"adapter": "<name>-<hash12>" or "" for the bundled one, "previous": [...]}
                       replaced by rename, so a reader sees the old pointer or the new, never half of one
    history.jsonl      every promotion and rollback: when, from, to, forced or not, the gate's figures

`generation.adapter` defaults to the promoted adapter when there is one, else the bundled one; a value set in
a config file, the environment or on the command line (--no-adapter) still wins.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from ..errors import RagError
from ..scanning import tree_sha256

ADAPTER_FILES = {".json", ".safetensors", ".bin"}
POINTER = "CURRENT.json"


class RegistryError(RagError):
    pass


def registry_root() -> Path:
    from platformdirs import user_data_path

    return user_data_path("rag") / "adapters"


def adapter_hash(folder: Path) -> str:
    return tree_sha256(Path(folder), ADAPTER_FILES)


def promoted_adapter(root: Path | None = None) -> str:
    """The folder of the adapter promoted last, or "" when none is (or the pointer is unreadable)."""
    try:
        name = json.loads(((root or registry_root()) / POINTER).read_text(encoding="utf-8")).get("adapter", "")
    except (OSError, ValueError, AttributeError):
        return ""
    folder = (root or registry_root()) / name
    return str(folder) if name and (folder / "adapter_config.json").is_file() else ""


class AdapterRegistry:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else registry_root()

    def _pointer(self) -> dict:
        try:
            pointer = json.loads((self.root / POINTER).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"adapter": "", "previous": []}
        except (OSError, ValueError) as exc:
            raise RegistryError(f"{self.root / POINTER} is unreadable ({exc}); fix or delete it "
                                "(deleting it puts the bundled adapter back in use)") from None
        return {"adapter": str(pointer.get("adapter", "")), "previous": list(pointer.get("previous", []))}

    def _switch(self, pointer: dict, event: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.root, prefix=".CURRENT-", suffix=".json")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(pointer, out, indent=2)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.root / POINTER)  # atomic: the old pointer or the new, never half of one
        with (self.root / "history.jsonl").open("a", encoding="utf-8") as history:
            history.write(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **event}) + "\n")

    def current(self) -> str:
        """The registry name of the adapter in use ("" for the bundled one)."""
        return self._pointer()["adapter"]

    def folder(self, name: str) -> Path:
        return self.root / name

    def entries(self) -> list[dict]:
        """Every promoted adapter, with whether it is the one in use."""
        current = self.current()
        if not self.root.is_dir():
            return []
        return [{"name": folder.name, "path": str(folder), "in_use": folder.name == current,
                 "card": _card(folder)} for folder in sorted(self.root.iterdir())
                if (folder / "adapter_config.json").is_file()]

    def promote(self, candidate: Path, verdict: dict | None, forced: bool) -> Path:
        """Copy `candidate` in (once per content) and make it the adapter in use; its registry folder."""
        candidate = Path(candidate)
        if not (candidate / "adapter_config.json").is_file():
            raise RegistryError(f"{candidate} is not an adapter folder (no adapter_config.json); give the --out "
                                "folder of 'rag tune'")
        name = f"{candidate.resolve().name}-{adapter_hash(candidate)[:12]}"
        target = self.root / name
        if not target.is_dir():
            self.root.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=self.root, prefix=".incoming-"))
            shutil.copytree(candidate, staging, dirs_exist_ok=True)
            os.replace(staging, target)
        pointer = self._pointer()
        if pointer["adapter"] != name:
            pointer = {"adapter": name, "previous": pointer["previous"] + [pointer["adapter"]]}
        self._switch(pointer, {"action": "promote", "adapter": name, "from": str(candidate), "forced": forced,
                               "gate": verdict})
        return target

    def rollback(self) -> str:
        """Put the adapter in use before the last promotion back; its name ("" for the bundled one)."""
        pointer = self._pointer()
        if not pointer["previous"]:
            raise RegistryError("nothing to roll back: no adapter has been promoted"
                                + (f" before {pointer['adapter']}" if pointer["adapter"] else ""))
        restored = pointer["previous"][-1]
        self._switch({"adapter": restored, "previous": pointer["previous"][:-1]},
                     {"action": "rollback", "adapter": restored, "replaced": pointer["adapter"]})
        return restored


def _card(folder: Path) -> dict:
    try:
        card = json.loads((folder / "training_card.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {key: card.get(key) for key in ("steps", "best_validation_loss", "examples", "data_sha256") if key in card}
