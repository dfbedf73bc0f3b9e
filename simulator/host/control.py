"""Client side of the host's control channel: one JSON line out, one JSON line back."""

from __future__ import annotations

import json
import socket
from typing import Any

from agent.errors import PosagentError, UsageError

CONTROL_TIMEOUT = 5.0


class ControlError(PosagentError):
    """The simulator's control channel could not be reached or refused the request."""


def parse_address(text: str, default_port: int) -> tuple[str, int]:
    host, _, port = text.rpartition(":") if ":" in text else (text, "", str(default_port))
    if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise UsageError(f"control address must be HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def call(address: tuple[str, int], request: dict[str, Any], *, timeout: float = CONTROL_TIMEOUT) -> dict[str, Any]:
    """Send one control request; a refusal from the host is a ControlError with its reason."""
    try:
        with socket.create_connection(address, timeout=timeout) as sock:
            sock.sendall(json.dumps(request).encode() + b"\n")
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
    except OSError as exc:
        raise ControlError(f"cannot reach the host simulator's control port {address[0]}:{address[1]}: "
                           f"{exc.strerror or exc}") from None
    try:
        answer = json.loads(reply)
    except ValueError:
        raise ControlError("the control port answered something that is not JSON") from None
    if not isinstance(answer, dict):
        raise ControlError("the control port answered something that is not a JSON object")
    if not answer.get("ok"):
        raise ControlError(answer.get("error", "request refused"))
    return answer
