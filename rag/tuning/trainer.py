"""A plain CPU training loop for a PEFT LoRA adapter; loss on the answer tokens only.

Fixed seed, gradient accumulation, a validation split checked every few steps
with early stopping (the best adapter is what is kept), and a wall-clock bound.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from .. import offline
from ..generation.chat import end_of_turn_text
from ..threads import threads_per_model


@dataclass
class TrainingConfig:
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    top_layers: int = 0  # LoRA on the top N decoder layers only (0: all); backward then stops below them
    learning_rate: float = 3e-4
    epochs: int = 1
    accumulation: int = 4
    max_tokens: int = 2048  # prompt and answer, as at answering time
    validation_share: float = 0.1
    validation_max: int = 32  # each check reads all of them: a bigger set costs training steps
    validate_every: int = 10  # optimiser steps
    patience: int = 3
    max_steps: int = 0  # 0: no bound besides epochs and time
    max_minutes: float = 25.0
    seed: int = 0
    threads: int = 0  # 0: the thread policy (rag.threads): torch's one per core collapses when cores are busy
    bf16: bool = False  # bfloat16 autocast: ~1.5x faster steps on CPUs with AVX512-BF16 or AMX; LoRA weights stay fp32


def _encode(tokenizer, example: dict, max_tokens: int, turn_end: str):
    """The token ids of prompt and answer, and where the answer starts (None if too long). The answer
    ends with the chat template's own end-of-turn text, so the model learns to stop there."""
    prompt = tokenizer.apply_chat_template(example["messages"], tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    target_ids = tokenizer(example["target"] + turn_end, add_special_tokens=False)["input_ids"]
    ids = prompt_ids + target_ids
    if len(ids) > max_tokens:
        return None
    return ids, len(prompt_ids)


def examples_sha256(examples: list[dict]) -> str:
    """The training card's data hash: the examples themselves, whatever file layout held them."""
    return hashlib.sha256(json.dumps(examples, sort_keys=True).encode()).hexdigest()


def _folder_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(folder.glob("*.safetensors")) + [folder / "config.json"]:
        digest.update(file.read_bytes())
    return digest.hexdigest()


def train(examples: list[dict], base_folder: Path, out: Path, config: TrainingConfig | None = None,
          progress: Callable[[str], None] | None = None) -> dict:
    """Train, save the best adapter and a training card to `out`; return the card."""
    config = config or TrainingConfig()
    offline.prepare()
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    torch.set_num_threads(threads_per_model(config.threads))
    tokenizer = AutoTokenizer.from_pretrained(str(base_folder), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(base_folder), dtype=torch.float32, local_files_only=True)
    layers = model.config.num_hidden_layers
    top = list(range(layers - config.top_layers, layers)) if 0 < config.top_layers < layers else None
    model = get_peft_model(model, LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
                                             target_modules=list(config.target_modules), task_type="CAUSAL_LM",
                                             layers_to_transform=top))
    turn_end = end_of_turn_text(tokenizer)
    encoded = [e for e in (_encode(tokenizer, x, config.max_tokens, turn_end) for x in examples) if e is not None]
    random.Random(config.seed).shuffle(encoded)
    n_val = min(config.validation_max, max(1, int(len(encoded) * config.validation_share)))
    validation, training = encoded[:n_val], encoded[n_val:]
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate)
    total_steps = math.ceil(len(training) * config.epochs / config.accumulation)
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: max(0.1, 1 - s / max(1, total_steps)))

    def loss_of(ids, answer_start):
        # Logits only where an answer token is predicted: over the whole prompt they cost a tenth of the
        # step and hundreds of MB (49k-word vocabulary), and the loss ignores them anyway.
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
            logits = model(input_ids=torch.tensor([ids]), logits_to_keep=len(ids) - answer_start + 1).logits
        return torch.nn.functional.cross_entropy(logits[0, :-1].float(), torch.tensor(ids[answer_start:]))

    def validate() -> float:
        model.eval()
        with torch.no_grad():
            value = sum(float(loss_of(*pair)) for pair in validation) / len(validation)
        model.train()
        return value

    curve, best, stale, step, stopped = [], validate(), 0, 0, "epochs done"
    curve.append({"step": 0, "validation_loss": round(best, 4)})
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    model.train()
    running = []
    stream = [pair for _ in range(config.epochs) for pair in training]
    for index, (ids, answer_start) in enumerate(stream, start=1):
        loss = loss_of(ids, answer_start) / config.accumulation
        loss.backward()
        running.append(float(loss.detach()) * config.accumulation)
        if index % config.accumulation:
            continue
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        step += 1
        train_loss = sum(running) / len(running)
        running = []
        if progress:
            progress(f"step {step}/{total_steps} loss {train_loss:.4f} ({time.perf_counter() - started:.0f}s)")
        if step % config.validate_every == 0 or step == total_steps:
            value = validate()
            curve.append({"step": step, "train_loss": round(train_loss, 4), "validation_loss": round(value, 4)})
            if progress:
                progress(f"step {step}: validation loss {value:.4f} (best {best:.4f})")
            if value < best - 1e-4:
                best, stale = value, 0
                model.save_pretrained(str(out))
            else:
                stale += 1
                if stale >= config.patience:
                    stopped = "early stopping"
                    break
        if step >= total_steps:
            break
        if time.perf_counter() - started > config.max_minutes * 60:
            stopped = "time bound"
            break
    card = {"base_model": str(base_folder), "base_model_sha256": _folder_hash(base_folder),
            "data_sha256": examples_sha256(examples),
            "examples": {"train": len(training), "validation": len(validation),
                         "skipped_too_long": len(examples) - len(encoded)},
            "config": asdict(config), "steps": step, "stopped": stopped, "best_validation_loss": round(best, 4),
            "curve": curve, "wall_seconds": round(time.perf_counter() - started, 1)}
    (out / "training_card.json").write_text(json.dumps(card, indent=2) + "\n")
    (out / "README.md").unlink(missing_ok=True)  # PEFT's blank model-card template; the training card says it all
    return card
