"""The root of posagent's exception families.

Each layer (codec, journal, link, engine, operator) has its own family below `PosagentError`, carrying
the facts a person needs to act (field and offset, transaction and state, what was expected).  The
CLI turns any `PosagentError` into one line on stderr and an exit status, never a traceback.
"""


class PosagentError(Exception):
    """An error meant for a person: its `str()` is the whole message."""

    #: exit status the CLI uses for this error (2: bad input or configuration, 1: operation failed)
    exit_status = 1


class ConfigError(PosagentError):
    """The configuration file is unreadable, malformed, or has a bad key or value."""

    exit_status = 2

    def __init__(self, message: str, *, key: str | None = None, path: str | None = None):
        self.key = key
        self.path = path
        where = f"{path}: " if path else ""
        what = f"{key}: " if key else ""
        super().__init__(f"{where}{what}{message}")


class UsageError(PosagentError):
    """An operator typed something the command cannot accept (bad amount, bad trace number...)."""

    exit_status = 2
