"""Run the real daemon (`posagent run`) as a child process against a simulator host, and its CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from agent.auth import hash_password
from simulator.stack import stop_process, write_daemon_config

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


@dataclass
class Agent:
    config: Path
    directory: Path
    proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "agent", "--config", str(self.config), "run"],
                                     cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("posagent ready"):
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            stop_process(self.proc)
            raise RuntimeError(f"daemon did not start: {line!r} {err}")

    def kill(self) -> None:
        """Power cut: SIGKILL, no clean-up at all."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._close_pipes()

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def _close_pipes(self) -> None:
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()

    def cli(self, *args: str, password: bool = False, timeout: float = 60) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "agent", "--config", str(self.config), *args]
        if password:
            command.append("--password-stdin")
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              input=SUPERVISOR_PASSWORD + "\n" if password else "")

    def json(self, *args: str, password: bool = False) -> dict:
        result = self.cli(*args, "--json", password=password)
        try:
            return json.loads(result.stdout)
        except json.JSONDecodeError:
            raise AssertionError(f"not JSON (exit {result.returncode}): {result.stdout!r} {result.stderr!r}")

    def call(self, op: str, args: dict | None = None, *, password: str | None = None) -> dict:
        """Straight to the control API (what a cash register integration does)."""
        from agent.daemon.control import ControlClient
        return ControlClient(self.directory / "control.sock", timeout=60).call(op, args or {}, password=password)

    @property
    def log_text(self) -> str:
        path = self.directory / "agent.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def start_agent(directory: Path, host_port: int, **kw) -> Agent:
    agent = Agent(write_config(directory, host_port, **kw), directory)
    agent.start()
    return agent
