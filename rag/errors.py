"""Errors a user can cause. Their messages name the thing and the fix."""


class RagError(Exception):
    """Base for user-facing errors; the CLI prints the message on one line."""


class ConfigError(RagError):
    pass


class IndexNotFoundError(RagError):
    pass


class IndexMismatchError(RagError):
    """The index was built with another embedding model or format."""


class IndexLockedError(RagError):
    pass


class LoaderError(RagError):
    """A document could not be read; the ingest reports it and goes on."""


class ModelNotFoundError(RagError):
    pass
