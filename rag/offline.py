"""Model loading never reaches a hub, and library progress bars stay quiet."""
from __future__ import annotations

import os
import sys


def prepare() -> None:
    """Call before loading any model: offline mode, no download or weight-loading bars."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # read by transformers and huggingface_hub when they are imported; without importing them here,
    # which would import torch (seconds) for a caller that loads no transformers model
    os.environ["TRANSFORMERS_VERBOSITY"] = "error"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    if "transformers" in sys.modules:  # already imported: its settings are read, so set them too
        from transformers.utils import logging

        logging.set_verbosity_error()
        logging.disable_progress_bar()
