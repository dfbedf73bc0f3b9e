"""The console session table: login, persistent lockout, idle logout, questions, secrets never shown.

Driven with bytes and a hand-moved clock; the gate is the real `PasswordGate` (scrypt, constant-time)
over the real lock-state file in tmp_path.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent import config
from agent.auth import PasswordGate, hash_password
from agent.console.commands import CommandTable
from agent.console.context import ConsoleContext
from agent.consolefiles import FileStateStore
from agent.machine import IllegalTransition
from agent.console.session import (CONSOLE, Question, Reply, Session, SessionSettings,
                                   State)

PASSWORD = "tech-pass-1"
HASH = hash_password(PASSWORD)
SALT = bytes(range(16))


def cheap_hash(password: str) -> str:
    """A scrypt hash with a tiny cost, so property tests can try many passwords (same format and check)."""
    digest = hashlib.scrypt(password.encode(), salt=SALT, n=16, r=1, p=1, dklen=32)
    return f"scrypt$16$1$1${SALT.hex()}${digest.hex()}"


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_session(tmp_path, *, clock: Clock | None = None, idle: float = 60.0, runner=None, audit=None,
                 stored_hash: str = HASH):
    clock = clock or Clock()
    gate = PasswordGate("technician", stored_hash, FileStateStore(tmp_path / "auth.json"), clock=clock,
                        max_attempts=5, lockout_minutes=30)
    runner = runner or CommandTable(ConsoleContext(client=None, cfg=config.from_mapping({})))
    settings_ = SessionSettings(banner="posagent test console", prompt="pos> ", idle_timeout_s=idle,
                                audit=audit or (lambda kind, details: None))
    session = Session(gate, runner, settings_)
    session.start(clock())
    return session, clock


def type_(session: Session, clock: Clock, text: str) -> str:
    return session.receive(text.encode(), clock()).decode()


def login(session, clock):
    type_(session, clock, "\r")
    return type_(session, clock, PASSWORD + "\r")


def test_enter_asks_for_the_password_and_the_right_one_logs_in(tmp_path):
    audit = []
    session, clock = make_session(tmp_path, audit=lambda kind, details: audit.append(kind))
    assert type_(session, clock, "\r").endswith("Password: ")
    out = type_(session, clock, PASSWORD + "\r")
    assert session.state is State.LOGGED_IN and out.endswith("pos> ")
    assert PASSWORD not in out and "*" * len(PASSWORD) in out
    assert audit == ["login"]


def test_five_wrong_passwords_lock_the_console_and_the_lock_survives_a_new_session(tmp_path):
    session, clock = make_session(tmp_path)
    type_(session, clock, "\r")
    for n in range(4):
        out = type_(session, clock, f"wrong{n}\r")
        assert f"({4 - n} attempt" in out and session.state is State.PASSWORD
    out = type_(session, clock, "wrong4\r")
    assert "locked for 30 min" in out and session.state is State.LOCKED
    # the right password does not help while locked
    assert "try again in" in type_(session, clock, PASSWORD + "\r")
    assert session.state is State.LOCKED
    # a power cycle: a new session on the same state file is still locked
    again, _ = make_session(tmp_path, clock=clock)
    assert "locked" in type_(again, clock, "\r") and again.state is State.LOCKED
    state = json.loads((tmp_path / "auth.json").read_text())
    assert PASSWORD not in json.dumps(state)
    # 30 minutes later the password prompt is back
    clock.now += 30 * 60 + 1
    assert type_(again, clock, "\r").endswith("Password: ")
    assert "Logged in" in type_(again, clock, PASSWORD + "\r")


def test_failures_are_counted_across_sessions(tmp_path):
    session, clock = make_session(tmp_path)
    type_(session, clock, "\r")
    for n in range(3):
        type_(session, clock, "nope\r")
    fresh, _ = make_session(tmp_path, clock=clock)
    type_(fresh, clock, "\r")
    assert "(1 attempt left)" in type_(fresh, clock, "nope\r")


def test_idle_session_is_logged_out_by_the_tick(tmp_path):
    audit = []
    session, clock = make_session(tmp_path, idle=60.0, audit=lambda kind, details: audit.append(kind))
    login(session, clock)
    clock.now += 59
    assert session.tick(clock()) == b""
    type_(session, clock, "hel")  # typing counts as activity
    clock.now += 59
    assert session.tick(clock()) == b"" and session.state is State.LOGGED_IN
    clock.now += 2
    out = session.tick(clock()).decode()
    assert "Idle for 1 min: logged out." in out and session.state is State.LOGGED_OUT
    assert audit[-1] == "idle_logout"
    # the half-typed command is gone: Enter now asks for the password, not for "hel"
    assert type_(session, clock, "\r").endswith("Password: ")


def test_an_abandoned_password_prompt_times_out(tmp_path):
    session, clock = make_session(tmp_path, idle=60.0)
    type_(session, clock, "\rhalf")
    clock.now += 61
    assert "Login timed out" in session.tick(clock()).decode() and session.state is State.LOGGED_OUT


def test_ctrl_c_at_the_password_prompt_goes_back_to_the_banner(tmp_path):
    session, clock = make_session(tmp_path)
    type_(session, clock, "\rsecr\x03")
    assert session.state is State.LOGGED_OUT


def test_commands_help_logout_and_unknown(tmp_path):
    session, clock = make_session(tmp_path)
    login(session, clock)
    out = type_(session, clock, "help\r")
    assert "config set SECTION.KEY VALUE" in out and "journal tail [N]" in out and out.endswith("pos> ")
    out = type_(session, clock, "frobnicate now\r")
    assert "error: unknown command 'frobnicate now'" in out and "Traceback" not in out
    out = type_(session, clock, "logout\r")
    assert "Logged out." in out and session.state is State.LOGGED_OUT


def test_a_broken_command_is_one_error_line_not_the_end_of_the_session(tmp_path):
    session, clock = make_session(tmp_path)  # client None: calling the daemon breaks
    login(session, clock)
    out = type_(session, clock, "status\r")
    assert out.count("\n") <= 2 and "error:" in out and session.state is State.LOGGED_IN


def test_a_secret_question_is_asked_hidden_and_the_answer_reaches_the_command(tmp_path):
    got = []

    class Runner:
        def run(self, line):
            return Reply("asking", ask=Question("Secret: ", lambda text: got.append(text) or Reply("done"),
                                                secret=True))

    session, clock = make_session(tmp_path, runner=Runner())
    login(session, clock)
    assert type_(session, clock, "ask\r").endswith("Secret: ") and session.state is State.ANSWERING
    out = type_(session, clock, "0123456789ABCDEF\r")
    assert "0123456789ABCDEF" not in out and got == ["0123456789ABCDEF"] and "done" in out
    assert session.state is State.LOGGED_IN
    type_(session, clock, "ask\r")
    assert "Cancelled." in type_(session, clock, "abc\x03") and session.state is State.LOGGED_IN


def test_the_table_refuses_a_move_it_does_not_list(tmp_path):
    session, _ = make_session(tmp_path)
    with pytest.raises(IllegalTransition, match="console: 'right' is not allowed in state 'logged out'"):
        session._move("right")
    assert {state for state, _event in CONSOLE.table} == set(State)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunks=st.lists(st.binary(max_size=30), max_size=12),
       secret=st.text(alphabet="abcdefghjkmnpqrstuvwxyz23456789", min_size=8, max_size=16))
def test_random_input_never_crashes_and_a_typed_password_is_never_echoed(tmp_path_factory, chunks, secret):
    directory = tmp_path_factory.mktemp("s")
    session, clock = make_session(directory, stored_hash=cheap_hash(PASSWORD))
    out = bytearray()
    for chunk in chunks:
        out += session.receive(chunk, clock())
        clock.now += 1
    assert session.state in State
    # whatever came before, a password typed at the prompt never shows
    out = bytearray(session.receive(b"\x03\rlogout\r\r", clock()))
    assert session.state in (State.PASSWORD, State.LOCKED, State.LOGGED_OUT)
    if session.state is State.LOGGED_OUT:
        out += session.receive(b"\r", clock())
    if session.state is State.PASSWORD:
        out += session.receive(secret.encode() + b"\r", clock())
        assert secret.encode() not in bytes(out)


def test_a_password_typed_before_the_prompt_or_while_locked_is_not_shown(tmp_path):
    session, clock = make_session(tmp_path)
    out = type_(session, clock, PASSWORD)  # typed at "Press Enter to log in."
    assert PASSWORD not in out
    assert type_(session, clock, "\r").endswith("Password: ")
