"""The console session: logged out → password → logged in (→ answering a question) → logged out (sans-IO).

`Session.receive(data, now)` takes bytes typed on the serial line and returns the bytes to send back;
`Session.tick(now)` is called when nothing was typed for a while and logs an idle session out.  The
session owns no port and reads no clock: the driver passes both in.  The password is checked by a
`gate` (`agent.auth.PasswordGate`: scrypt, constant-time compare, persistent lockout) and commands
are run by a `runner` (`agent.console.commands.CommandTable`), both injected so tests drive the
whole machine with plain bytes.

The legal moves are one table, `CONSOLE` (an `agent.machine.Machine`); a move it does not list raises
`IllegalTransition` (a bug in the console, never the technician's fault).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from typing import Callable, Protocol

from agent.auth import AuthError
from agent.console.lineeditor import Cancelled, Echo, EndOfInput, Line, LineEditor
from agent.console.texts import say
from agent.errors import PosagentError
from agent.machine import Machine

log = logging.getLogger("posagent.console")

#: how a console event reaches the journal: (kind, details), best effort
Audit = Callable[[str, dict[str, object]], None]


class State(enum.Enum):
    LOGGED_OUT = "logged out"
    PASSWORD = "password"
    LOCKED = "locked"
    LOGGED_IN = "logged in"
    ANSWERING = "answering"  # a command asked a question (a secret value, a confirmation)


S = State
#: (state, what happened) -> next state
CONSOLE: Machine[State] = Machine(
    "console", State, ("enter", "locked", "still_locked", "lock_over", "right", "wrong", "command", "ask", "answer",
                       "cancel", "logout", "idle"), {
        (S.LOGGED_OUT, "enter"): S.PASSWORD,
        (S.LOGGED_OUT, "locked"): S.LOCKED,
        (S.PASSWORD, "right"): S.LOGGED_IN,
        (S.PASSWORD, "wrong"): S.PASSWORD,
        (S.PASSWORD, "locked"): S.LOCKED,
        (S.PASSWORD, "cancel"): S.LOGGED_OUT,
        (S.PASSWORD, "idle"): S.LOGGED_OUT,
        (S.LOCKED, "still_locked"): S.LOCKED,
        (S.LOCKED, "lock_over"): S.PASSWORD,
        (S.LOGGED_IN, "command"): S.LOGGED_IN,
        (S.LOGGED_IN, "ask"): S.ANSWERING,
        (S.LOGGED_IN, "cancel"): S.LOGGED_IN,
        (S.LOGGED_IN, "logout"): S.LOGGED_OUT,
        (S.LOGGED_IN, "idle"): S.LOGGED_OUT,
        (S.ANSWERING, "answer"): S.LOGGED_IN,
        (S.ANSWERING, "ask"): S.ANSWERING,
        (S.ANSWERING, "cancel"): S.LOGGED_IN,
        (S.ANSWERING, "logout"): S.LOGGED_OUT,
        (S.ANSWERING, "idle"): S.LOGGED_OUT,
    }, initial=S.LOGGED_OUT)


@dataclass(frozen=True)
class Question:
    """A command's follow-up question; `then` gets the answer and gives the next reply."""

    prompt: str
    then: Callable[[str], "Reply"]
    secret: bool = False


@dataclass(frozen=True)
class Reply:
    """What a command answers: text to show, maybe a question, maybe the end of the session."""

    text: str = ""
    ask: Question | None = None
    logout: bool = False


class Gate(Protocol):
    def check(self, password: str | None) -> None: ...
    def locked_for(self) -> float: ...


class Runner(Protocol):
    def run(self, line: str) -> Reply: ...


@dataclass
class SessionSettings:
    banner: str
    prompt: str = "posagent> "
    idle_timeout_s: float = 15 * 60
    secret_echo: Echo = Echo.STARS
    audit: Audit = field(default=lambda kind, details: None)
    language: str = "en"  # [terminal] language


def crlf(text: str) -> bytes:
    """Text for a serial terminal: every line ends with CR LF."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


class Session:
    def __init__(self, gate: Gate, runner: Runner, settings: SessionSettings):
        self.gate = gate
        self.runner = runner
        self.settings = settings
        self.state: State = State.LOGGED_OUT
        self.editor = LineEditor(echo=Echo.NONE)
        self.last_activity = 0.0
        self._question: Question | None = None

    # -- the table --------------------------------------------------------------------------------
    def _move(self, happened: str) -> None:
        self.state = CONSOLE.step(self.state, happened)
        self.editor.reset(echo=self._echo())

    def _echo(self) -> Echo:
        """Only commands and plain answers are shown as typed; a password typed too early never is."""
        if self.state in (State.LOGGED_OUT, State.LOCKED):
            return Echo.NONE
        if self.state is State.PASSWORD or (self._question is not None and self._question.secret):
            return self.settings.secret_echo
        return Echo.PLAIN

    # -- input ------------------------------------------------------------------------------------
    def start(self, now: float) -> bytes:
        """What a freshly opened line shows: the banner and how to log in."""
        self.last_activity = now
        return crlf(self._banner())

    def receive(self, data: bytes, now: float) -> bytes:
        out = bytearray(self.tick(now))
        if data:
            self.last_activity = now
        echo, events = self.editor.feed(data)
        out += echo
        for event in events:
            out += self._event(event)
        return bytes(out)

    def tick(self, now: float) -> bytes:
        """Log out a session idle for longer than the timeout (also abandons a half-typed password)."""
        if self.state in (State.LOGGED_OUT, State.LOCKED):
            return b""
        if now - self.last_activity < self.settings.idle_timeout_s:
            return b""
        self._question = None
        was_logged_in = self.state in (State.LOGGED_IN, State.ANSWERING)
        self._move("idle")
        minutes = self.settings.idle_timeout_s / 60
        if was_logged_in:
            self.settings.audit("idle_logout", {"idle_minutes": round(minutes, 2)})
            return crlf(f"\n{self._say('idle_out', minutes=minutes)}\n" + self._banner())
        return crlf(f"\n{self._say('login_timeout')}\n" + self._banner())

    def _event(self, event: Line | Cancelled | EndOfInput) -> bytes:
        if self.state is State.LOGGED_OUT:
            if isinstance(event, Line):  # the laptop may have joined after start(): who it is talking to, first
                return crlf(f"\n{self.settings.banner}\n") + self._begin_login()
            return b""
        if self.state is State.LOCKED:
            return self._begin_login()
        if self.state is State.PASSWORD:
            if isinstance(event, Line):
                return self._check_password(event.text)
            self._move("cancel")
            return crlf(self._banner())
        if self.state is State.LOGGED_IN:
            if isinstance(event, Cancelled):
                self._move("cancel")
                return crlf(self.settings.prompt)
            if isinstance(event, EndOfInput):
                return self._reply(Reply(self._say("logged_out"), logout=True))
            return self._command(event.text)
        # answering a question
        question = self._question
        self._question = None
        if not isinstance(event, Line) or question is None:
            self._move("cancel")
            return crlf(self._say("cancelled") + "\n" + self.settings.prompt)
        try:
            reply = question.then(event.text)
        except PosagentError as exc:
            reply = Reply(self._say("error", detail=exc))
        except Exception as exc:  # noqa: BLE001 — as for commands
            log.exception("console command failed")
            reply = Reply(self._say("error", detail=self._say("internal", name=type(exc).__name__)))
        return self._reply(reply, answering=True)

    # -- login ------------------------------------------------------------------------------------
    def _begin_login(self) -> bytes:
        try:
            remaining = self.gate.locked_for()
        except PosagentError as exc:  # e.g. a damaged lock file: stay out, say why
            return crlf(self._say("error", detail=exc) + "\n")
        if remaining > 0:
            self._move("still_locked" if self.state is State.LOCKED else "locked")
            return crlf(self._locked_text(remaining))
        self._move("lock_over" if self.state is State.LOCKED else "enter")
        return self._say("password").encode("utf-8")

    def _check_password(self, password: str) -> bytes:
        try:
            self.gate.check(password)
        except AuthError as exc:
            if self.gate.locked_for() > 0:
                self._move("locked")
                self.settings.audit("login_locked", {})
                return crlf(f"{exc}\n")  # the gate says it in the terminal's language
            self._move("wrong")
            self.settings.audit("login_failed", {})
            return crlf(f"{exc}\n") + self._say("password").encode("utf-8")
        except PosagentError as exc:  # the lock state could not be read or saved: nobody gets in
            self._move("cancel")
            return crlf(self._say("error", detail=exc) + "\n" + self._banner())
        self._move("right")
        self.settings.audit("login", {})
        return crlf(self._say("logged_in") + "\n" + self.settings.prompt)

    # -- commands ---------------------------------------------------------------------------------
    def _command(self, line: str) -> bytes:
        if not line.strip():
            self._move("command")
            return crlf(self.settings.prompt)
        try:
            reply = self.runner.run(line)
        except PosagentError as exc:
            reply = Reply(self._say("error", detail=exc))
        except Exception as exc:  # noqa: BLE001 — a broken command must not end the technician's session
            log.exception("console command failed")
            reply = Reply(self._say("error", detail=self._say("internal", name=type(exc).__name__)))
        return self._reply(reply)

    def _reply(self, reply: Reply, *, answering: bool = False) -> bytes:
        text = reply.text + ("\n" if reply.text and not reply.text.endswith("\n") else "")
        if reply.logout:
            self._question = None
            self._move("logout")
            self.settings.audit("logout", {})
            return crlf(text + self._banner())
        if reply.ask is not None:
            self._question = reply.ask
            self._move("ask")
            return crlf(text) + reply.ask.prompt.encode("utf-8")
        self._move("answer" if answering else "command")
        return crlf(text + self.settings.prompt)

    def _banner(self) -> str:
        return f"\n{self.settings.banner}\n{self._say('press_enter')}\n"

    def _say(self, key: str, **values: object) -> str:
        return say(self.settings.language, key, **values)

    def _locked_text(self, seconds: float) -> str:
        """How long, and (from a gate that knows) where and until when: "(on the serial console, until 14:32)"."""
        note = getattr(self.gate, "lock_note", lambda: "")()
        return self._say("locked", minutes=int(seconds // 60) + 1) + (f" ({note})" if note else "") + "\n"
