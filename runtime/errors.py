"""The runtime's error type: every failure the user sees is one of these, one line each."""


class RuntimeFailure(Exception):
    """An error to report to the user as one line (or one line per problem) and exit 1."""

    def __init__(self, message, *, lines=None):
        super().__init__(message)
        self.lines = list(lines) if lines else [message]


class NotFound(RuntimeFailure):
    """The container does not exist."""


class ConfigError(RuntimeFailure):
    """config.json is unreadable or invalid: one line per problem."""


def oserror(what, err):
    """A one-line description of an OSError for `what`."""
    return RuntimeFailure(f"{what}: {err.strerror or err}")
