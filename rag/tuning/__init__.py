"""LoRA tuning of the generator on grounded question answering: data, training, merging."""
from .data import build_examples
from .merge import merge_adapter
from .trainer import TrainingConfig, train

__all__ = ["TrainingConfig", "build_examples", "merge_adapter", "train"]
