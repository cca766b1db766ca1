"""The interaction log: every answer with a stable id, the feedback given on it, and the figures read from both
(`rag stats`, the corpus gaps, feedback turned into training examples)."""
from .feedback import FeedbackError, UnknownInteraction
from .log import InteractionLog, LogUnavailable, default_log_path, log_from_settings
from .records import Feedback, Interaction

__all__ = ["Feedback", "FeedbackError", "Interaction", "InteractionLog", "LogUnavailable", "UnknownInteraction",
           "default_log_path", "log_from_settings"]
