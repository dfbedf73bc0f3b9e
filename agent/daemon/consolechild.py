"""The technician console beside the daemon: `posagent run` with `[console] port` set starts it as a child
process (`posagent console`), so its blocking serial loop and any crash stay out of the daemon."""

from __future__ import annotations

import logging
import subprocess
import sys

from agent import config

log = logging.getLogger("posagent.console")


def start_console_child(cfg: config.Config) -> "subprocess.Popen[bytes] | None":
    """`posagent run` with [console] port set: the console as a child process (its blocking serial loop and
    any crash stay out of the daemon).  None when no port is configured."""
    if not cfg.console.port or not cfg.source:
        return None
    proc = subprocess.Popen([sys.executable, "-m", "agent", "--config", cfg.source, "console"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    log.info("technician console on %s (pid %d)", cfg.console.port, proc.pid)
    return proc


def stop_console_child(proc: "subprocess.Popen[bytes] | None", timeout: float = 5.0) -> None:
    if proc is None:
        return
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
