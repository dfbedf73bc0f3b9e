"""Run the real daemon (`posagent run`) as a child process against a simulator host, and its CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agent.auth import hash_password
from simulator.stack import Daemon, write_daemon_config

ROOT = Path(__file__).resolve().parent.parent
SUPERVISOR_PASSWORD = "246810"
_HASH_CACHE: dict[str, str] = {}


def supervisor_hash() -> str:
    if SUPERVISOR_PASSWORD not in _HASH_CACHE:
        _HASH_CACHE[SUPERVISOR_PASSWORD] = hash_password(SUPERVISOR_PASSWORD)
    return _HASH_CACHE[SUPERVISOR_PASSWORD]


def write_config(directory: Path, host_port: int, *, response_timeout: float = 2.0, extra: str = "") -> Path:
    return write_daemon_config(directory, host_port, response_timeout=response_timeout,
                               password_hash=supervisor_hash(), max_attempts=5, extra=extra)


class Agent(Daemon):
    """The daemon as `simulator.stack` runs it (start, SIGKILL, stop), plus the CLI and the control API
    the way an operator's tests use them."""

    def __init__(self, config: Path, directory: Path):  # an existing configuration: no new file written
        self.config = config
        self.directory = directory
        self.socket = directory / "control.sock"
        self.proc: subprocess.Popen | None = None

    def cli(self, *args: str, password: bool = False, timeout: float = 60) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "agent", "--config", str(self.config), *args]
        if password:
            command.append("--password-stdin")
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              input=SUPERVISOR_PASSWORD + "\n" if password else "")

    def cli_in_background(self, *args: str, password: bool = False) -> subprocess.Popen:
        """The CLI started and left running (to kill the daemon under it); `password`: the supervisor's on its
        standard input, from a file as a terminal's script would give it."""
        command = [sys.executable, "-m", "agent", "--config", str(self.config), *args]
        stdin = subprocess.DEVNULL
        if password:
            command.append("--password-stdin")
            secret = self.directory / "password.txt"
            secret.write_text(SUPERVISOR_PASSWORD + "\n")
            stdin = open(secret)
        try:
            return subprocess.Popen(command, cwd=ROOT, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
        finally:
            if stdin is not subprocess.DEVNULL:
                stdin.close()

    def json(self, *args: str, password: bool = False) -> dict:
        result = self.cli(*args, "--json", password=password)
        try:
            return json.loads(result.stdout)
        except json.JSONDecodeError:
            raise AssertionError(f"not JSON (exit {result.returncode}): {result.stdout!r} {result.stderr!r}")

    def call(self, op: str, args: dict | None = None, *, password: str | None = None) -> dict:
        """Straight to the control API (what a cash register integration does)."""
        from agent.control_client import ControlClient
        return ControlClient(self.directory / "control.sock", timeout=60).call(op, args or {}, password=password)

    @property
    def log_text(self) -> str:
        path = self.directory / "agent.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def start_agent(directory: Path, host_port: int, **kw) -> Agent:
    agent = Agent(write_config(directory, host_port, **kw), directory)
    agent.start()
    return agent
