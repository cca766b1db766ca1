"""Model loading never reaches a hub, and library progress bars stay quiet."""
from __future__ import annotations

import os


def prepare() -> None:
    """Call before loading any model: offline mode, no download or weight-loading bars."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
