"""Who may run what: the supervisor's and the technician's passwords as the daemon checks them, the role the
operation registry names for each operation, and the lockouts in force.  Failures are counted per source
(`agent.auth.SOURCES`: where the password was typed) and journaled."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from agent import registry
from agent.auth import SOURCES, PasswordGate, clock_time
from agent.config import load as load_config
from agent.consolefiles import FileStateStore, auth_state_path
from agent.engine.effects import EngineError
from agent.errors import PosagentError

if TYPE_CHECKING:  # the daemon checks its callers with these
    from agent.daemon.service import Daemon

log = logging.getLogger("posagent.daemon")


def supervisor_gate(daemon: Daemon, source: str = "control") -> PasswordGate:
    """The supervisor's password, its failures counted per source (`agent.auth.SOURCES`)."""
    sup = daemon.cfg.supervisor
    return PasswordGate("supervisor", sup.password_hash, daemon.journal, clock=time.time, source=source,
                        max_attempts=sup.max_attempts, lockout_minutes=sup.lockout_minutes,
                        language=daemon.cfg.terminal.language, on_event=lambda kind, details: daemon.journal.record_event(
                            kind, details, operator="supervisor", role="supervisor"))


def technician_gate(daemon: Daemon, source: str = "control") -> PasswordGate:
    """The technician's password, its failures kept in the console's state file and counted per source:
    guesses on the control socket never lock the technician out of the serial console."""
    con = daemon.cfg.console
    return PasswordGate("technician", _technician_hash(daemon), FileStateStore(auth_state_path(daemon.journal_path)),
                        clock=time.time, source=source, max_attempts=con.max_attempts,
                        lockout_minutes=con.lockout_minutes, language=daemon.cfg.terminal.language,
                        on_event=lambda kind, details: daemon.journal.record_event(
                            kind, details, operator="technician", role="technician"))


def _technician_hash(daemon: Daemon) -> str:
    """The technician sets their own password on the console, which saves it to the file: read it there."""
    if daemon.cfg.source:
        try:
            saved: str = load_config(daemon.cfg.source).console.password_hash
            return saved
        except PosagentError as exc:
            log.warning("technician password: %s; using the one read at start", exc)
    at_start: str = daemon.cfg.console.password_hash
    return at_start


def authorize(daemon: Daemon, op: str, args: dict[str, Any], password: str | None, *, source: str = "control") -> str:
    """Check the password of the role the operation registry names for `op`, counting a failure against
    `source` (where it was typed); return that role."""
    role = registry.role_for(op, args, daemon.cfg)
    if role is None:
        raise EngineError(f"unknown operation {op!r}", code="usage")
    if role == "supervisor":
        supervisor_gate(daemon, source).check(password)
    elif role == "technician":
        technician_gate(daemon, source).check(password)
    return role


def lockouts(daemon: Daemon) -> list[dict[str, Any]]:
    """Every role locked now, with the source it is locked on and when it ends."""
    found = []
    for source in SOURCES:
        for gate in (supervisor_gate(daemon, source), technician_gate(daemon, source)):
            try:
                until = gate.state().locked_until
            except PosagentError as exc:  # a damaged console state file: say so, do not fail `status`
                log.warning("%s", exc)
                continue
            if until > time.time():
                found.append({"role": gate.role, "source": source, "until": clock_time(until),
                              "seconds": round(until - time.time())})
    return found
