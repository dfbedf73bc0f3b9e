"""The control API's client: one blocking request at a time over the daemon's Unix socket (JSON lines;
the protocol is described in `agent.daemon.control`, the server).

The CLI's daemon commands, the technician console, `posagent reconcile`, the simulator's terminal and the
tests all talk to the daemon through this; it imports nothing of the daemon, so an operator interface
depends on the daemon's API, not on its insides.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any, Callable, Mapping

from agent.errors import PosagentError
from agent.progress import from_notify


class ConnectionLost(PosagentError):
    """The request reached the daemon but no answer came back: its outcome is not known here."""


class ControlClient:
    """A blocking client for the control API (the CLI's side)."""

    def __init__(self, path: Path, timeout: float = 300.0, *, source: str | None = None):
        self.path = path
        self.timeout = timeout
        self.source = source  # "console": passwords sent were typed on the serial console
        self._next_id = 0

    def call(self, op: str, args: Mapping[str, object] | None = None, *, password: str | None = None,
             on_notify: Callable[[str], None] | None = None, receipts: bool = True) -> dict[str, Any]:
        """One request; `receipts` asks for the outcome's receipts (people print them; a register may not)."""
        self._next_id += 1
        request = {"id": self._next_id, "op": op, "args": dict(args or {})}
        if receipts:
            request["receipts"] = True
        if password is not None:
            request["password"] = password
        if self.source:
            request["source"] = self.source
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            try:
                sock.connect(str(self.path))
            except (FileNotFoundError, ConnectionRefusedError):
                raise PosagentError(f"the posagent daemon is not running (no control socket at {self.path}); "
                                    f"start it with `posagent run`") from None
            except PermissionError:
                raise PosagentError(f"no permission to use the control socket {self.path}") from None
            sock.sendall(json.dumps(request).encode() + b"\n")
            stream = sock.makefile("rb")
            try:
                for line in stream:
                    reply: dict[str, Any] = json.loads(line)  # the daemon answers one JSON object a line
                    if "notify" in reply:
                        if on_notify:
                            on_notify(from_notify(reply))
                        continue
                    return reply
            except OSError as exc:  # timed out, or reset by a dying daemon
                raise ConnectionLost(f"no answer from the daemon ({exc.strerror or type(exc).__name__})") from None
        raise ConnectionLost("the daemon closed the connection without an answer")
