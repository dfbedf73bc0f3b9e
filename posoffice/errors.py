"""posoffice's one error family: a message meant for a person, and the exit status the CLI uses."""

from __future__ import annotations


class OfficeError(Exception):
    """Bad input, configuration or an unreachable database: one line, exit status 2."""

    exit_status = 2


class WireError(OfficeError):
    """A request to the collector that is malformed or over a limit (HTTP 400 or 413)."""

    def __init__(self, message: str, *, status: int = 400, code: str = "bad_request"):
        super().__init__(message)
        self.status = status
        self.code = code
