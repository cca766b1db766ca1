"""HTTP server for chat apps: OpenAI-compatible chat completions, /search, /ask and a chat page."""
from .app import create_app, serve

__all__ = ["create_app", "serve"]
