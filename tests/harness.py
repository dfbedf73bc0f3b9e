"""Real helper processes for tests: pcscd, socat pty pairs, and the rule for missing stacks.

Helpers are started as direct children and stopped by PID (and waited for) in teardown, so no
process or zombie outlives a test.  The CI rule from the real-stack notes: a missing stack skips
with a reason on a developer's machine and *fails* under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from simulator import stack
from simulator.stack import stop_process  # noqa: F401 — one way to stop a child, shared with the simulator

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PCSCD_SOCKET = stack.PCSCD_SOCKET


def require(condition: bool, reason: str) -> None:
    """Skip (developer machine) or fail (CI) when a real stack is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI requires the real stack: {reason}")
    pytest.skip(reason)


def require_tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    require(path is not None, f"{name} is not installed (make test installs it when run as root)")
    return path  # type: ignore[return-value]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.01):
    """Poll `predicate` until it returns a truthy value; fail naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    """An ephemeral loopback port that was free a moment ago (for servers that need it up front)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Pcscd:
    """A running pcscd; `proc` is None when it was already running and is not ours to stop."""

    proc: subprocess.Popen | None


def start_pcscd() -> Pcscd:
    binary = require_tool("pcscd")
    require(Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so").exists()
            or any(Path("/usr/lib/pcsc/drivers").glob("**/*vpcd*")),
            "vsmartcard-vpcd (the virtual reader driver) is not installed")
    del binary
    return Pcscd(stack.start_pcscd())


@dataclass
class PtyPair:
    """A socat pseudo-terminal pair: the device under test opens `a`, the test (the 'person') `b`."""

    a: str
    b: str
    proc: subprocess.Popen


def start_pty_pair(directory: Path) -> PtyPair:
    binary = require_tool("socat")
    a, b = directory / "ttyA", directory / "ttyB"
    proc = subprocess.Popen([binary, f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: a.exists() and b.exists(), 10, "socat's pty links")
    except TimeoutError:
        stop_process(proc)
        raise
    return PtyPair(str(a), str(b), proc)
