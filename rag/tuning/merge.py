"""Fold a LoRA adapter into the base weights, for runtimes without PEFT."""
from __future__ import annotations

import warnings
from pathlib import Path

from .. import offline


def merge_adapter(base_folder: Path, adapter: Path, out: Path) -> Path:
    offline.prepare()
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(str(base_folder), dtype=torch.float32, local_files_only=True)
    with warnings.catch_warnings():  # PEFT calls a transformers API deprecated in 5.x; not the user's concern
        warnings.simplefilter("ignore", FutureWarning)
        merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    merged.save_pretrained(str(out), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(base_folder), local_files_only=True).save_pretrained(str(out))
    return out
