"""Putting the console together from the configuration: gate, commands, session, audit trail.

The technician's login gate keeps its counter in a file beside the journal (see `agent.consolefiles`); logins,
failures, locks, logouts and setting changes are also journaled through the daemon's `console_event`
operation when the daemon is up (best effort: the console must work while the daemon is down).
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from agent import __version__, config
from agent.auth import PasswordGate
from agent.console.cardtest import run_card_test
from agent.console.commands import CommandTable
from agent.console.context import ConsoleContext, DaemonClient
from agent.consolefiles import FileStateStore, auth_state_path
from agent.console.lineeditor import Echo
from agent.console.session import Audit, Session, SessionSettings
from agent.console.texts import say
from agent.errors import PosagentError

log = logging.getLogger("posagent.console")


def technician_gate(cfg: config.Config, *, clock: Callable[[], float] = time.time) -> PasswordGate:
    console = cfg.console
    store = FileStateStore(auth_state_path(cfg.path("journal", "path")))
    return PasswordGate("technician", console.password_hash, store, clock=clock, source="console",
                        max_attempts=console.max_attempts, lockout_minutes=console.lockout_minutes,
                        language=cfg.terminal.language)


class RememberingGate:
    """The technician's gate; a right password is kept for the session, to prove the role to the daemon.
    A refusal is said in the terminal's language: the gate's own words (`agent.auth.TEXTS`)."""

    def __init__(self, gate: PasswordGate, context: ConsoleContext, *, max_attempts: int = 5,
                 language: str = "en"):
        self.gate = gate
        self.gate.language = language  # the refusals are said in the console's language
        self.context = context
        self.max_attempts = max_attempts
        self.language = language

    def check(self, password: str | None) -> None:
        self.context.password = None
        self.gate.check(password)
        self.context.password = password

    def locked_for(self) -> float:
        return self.gate.locked_for()

    def lock_note(self) -> str:
        """Where and until when the console is locked, in the terminal's language ("串口控制台，至 14:32")."""
        return self.gate.lock_note()


def journal_audit(client: DaemonClient, password: Callable[[], str | None] = lambda: None) -> Audit:
    """Send a console event to the daemon's journal; when it cannot, say so in the log and go on.

    Events of a logged-in session carry the technician's password (the daemon checks it); failed and
    locked logins go without, and the daemon journals their kind only."""
    def audit(kind: str, details: dict[str, object]) -> None:
        log.info("console %s %s", kind, details)
        try:
            reply = client.call("console_event", {"kind": kind, "details": details}, password=password())
            if not reply.get("ok"):
                log.warning("console event %s not journaled: %s", kind, reply.get("error", {}).get("message"))
        except (PosagentError, OSError, ValueError) as exc:
            log.warning("console event %s not journaled: %s", kind, exc)

    return audit


def build_session(cfg: config.Config, client: DaemonClient, *, idle_timeout_s: float | None = None,
                  card_test: Callable[[float], str] | None = None) -> Session:
    context = ConsoleContext(client=client, cfg=cfg)
    send_event = journal_audit(client, lambda: context.password)

    def audit(kind: str, details: dict[str, object]) -> None:
        send_event(kind, details)
        if kind in ("logout", "idle_logout"):
            context.password = None

    context.audit = audit
    if card_test is None:
        reader = cfg.card_reader

        def card_test(timeout: float) -> str:
            return run_card_test(reader.reader, timeout, apdu_timeout=reader.apdu_timeout,
                                 language=cfg.terminal.language)

    context.card_test = card_test
    t = cfg.terminal
    settings = SessionSettings(
        banner=say(t.language, "banner", version=__version__, terminal=t.terminal_id, merchant=t.merchant_name),
        prompt=f"posagent {t.terminal_id}> ",
        idle_timeout_s=idle_timeout_s if idle_timeout_s is not None else cfg.console.idle_timeout_minutes * 60,
        secret_echo=Echo.STARS,
        audit=audit, language=t.language)
    gate = RememberingGate(technician_gate(cfg), context, max_attempts=cfg.console.max_attempts, language=t.language)
    return Session(gate, CommandTable(context), settings)
