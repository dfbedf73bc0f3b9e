"""The technician's console end to end: `posagent console` on one end of a real socat pty pair, the test
typing on the other end like a person at 115200 baud, against a real daemon and the simulator host."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from agent import __version__
from agent.auth import hash_password
from tests.agentproc import ROOT, SUPERVISOR_PASSWORD, start_agent
from tests.harness import stop_process

pytestmark = pytest.mark.realstack

TECH_PASSWORD = "field-tech-7"
TECH_HASH = hash_password(TECH_PASSWORD)
WAIT = 30.0  # a bound for a broken console, never a timing assertion


class Person:
    """The technician's laptop: one end of the pty pair, typing one byte at a time."""

    def __init__(self, device: str):
        self.port = serial.Serial(device, baudrate=115200, timeout=0.05)
        self.seen = bytearray()  # everything shown on the screen so far
        self._unread = bytearray()

    def type(self, text: str | bytes) -> None:
        for byte in text.encode() if isinstance(text, str) else text:
            self.port.write(bytes([byte]))

    def expect(self, text: str, timeout: float = WAIT) -> str:
        """Read until `text` is on the screen; return what came up to and including it."""
        wanted = text.encode()
        deadline = time.monotonic() + timeout
        while wanted not in self._unread:
            if time.monotonic() > deadline:
                raise AssertionError(f"console never showed {text!r}; screen so far: {bytes(self._unread)[-800:]!r}")
            chunk = self.port.read(self.port.in_waiting or 1)  # returns as soon as anything arrived
            self.seen += chunk
            self._unread += chunk
        end = self._unread.index(wanted) + len(wanted)
        shown, self._unread = bytes(self._unread[:end]), self._unread[end:]
        return shown.decode("utf-8", "replace")

    def command(self, line: str) -> str:
        """Type a command and Enter; return its output up to the next prompt."""
        self.type(line + "\r")
        return self.expect("posagent 10000001> ")

    def close(self) -> None:
        self.port.close()


class Console:
    def __init__(self, config, device: str, *extra: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "agent", "--config", str(config), "console",
                                      "--port", device, *extra], cwd=ROOT, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("posagent console on"):
            stop_process(self.proc)
            raise RuntimeError(f"console did not start: {line!r} {self.proc.stderr.read()}")

    def stop(self) -> None:
        stop_process(self.proc)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


@pytest.fixture
def agent(tmp_path, sim_host):
    running = start_agent(tmp_path, sim_host.port,
                          extra=f'[console]\npassword_hash = "{TECH_HASH}"\n[terminal]\nmerchant_name = "CONSOLE TEST"\n')
    yield running
    running.stop()


@pytest.fixture
def line(pty_pair):
    """The technician's end of the pair, opened before the console writes anything."""
    person = Person(pty_pair.b)
    yield person
    person.close()


@pytest.fixture
def console(agent, pty_pair, line):
    running = Console(agent.config, pty_pair.a)
    yield running
    running.stop()


def log_in(line: Person) -> str:
    line.type("\r")
    line.expect("Password: ")
    line.type(TECH_PASSWORD + "\r")
    return line.expect("posagent 10000001> ")


def journal_events(agent, prefix: str) -> list[str]:
    with sqlite3.connect(f"file:{agent.directory / 'journal.db'}?mode=ro", uri=True) as db:
        return [r[0] for r in db.execute("SELECT kind FROM events WHERE kind LIKE ? ORDER BY id", (prefix + "%",))]


def test_technician_logs_in_checks_the_terminal_changes_a_setting_and_logs_out(agent, console, line):
    banner = line.expect("Press Enter to log in.")
    assert f"posagent {__version__} technician console - terminal 10000001 (CONSOLE TEST)" in banner
    shown = log_in(line)
    assert TECH_PASSWORD not in shown and "*" * len(TECH_PASSWORD) in shown and "Logged in." in shown

    status = line.command("status")
    assert "link      127.0.0.1:" in status and "reversals 0 pending" in status

    assert "link test ok: the acquirer answered" in line.command("link test")
    signon = line.command("sign-on")
    assert "signed on: batch" in signon

    sale = agent.cli("sale", "12.34", "--card", "debit")
    assert sale.returncode == 0, sale.stderr
    tail = line.command("journal tail 5")
    assert "sale" in tail and "12.34" in tail and "approved" in tail
    assert "****0048" in tail and "622609" not in tail  # the card as its last 4 digits only
    txn_id = tail.splitlines()[-2].split()[0]
    found = line.command("journal search amount 12.34")
    assert any(row.split()[:1] == [txn_id] for row in found.splitlines())
    assert "no transactions found" in line.command("journal search last4 0000 amount 99.99")

    evidence = line.command(f"export {txn_id}")
    assert "POSAGENT TRANSACTION EVIDENCE" in evidence and "hash chain intact" in evidence

    assert "reversal queue empty" in line.command("reversals")
    assert "-> WARNING" in line.command("log level WARNING")
    assert "daemon log level WARNING" in line.command("log level")

    saved = line.command("config set acquirer.response_timeout 4.5")
    assert "saved acquirer.response_timeout = 4.5" in saved
    assert "response_timeout = 4.5" in agent.config.read_text()
    shown = line.command("config show keys")
    assert re.search(r"^keys\.tmk +=  *\(set\)\r?$", shown, re.M) and "0123456789ABCDEF" not in shown
    assert "error: acquirer.reversal_retries: expected an integer from 1 to 99" in line.command(
        "config set acquirer.reversal_retries 0")

    line.type("logout\r")
    assert "Logged out." in line.expect("Press Enter to log in.")
    assert TECH_PASSWORD.encode() not in line.seen
    events = journal_events(agent, "console.")
    assert events[0] == "console.login" and "console.config_set" in events and events[-1] == "console.logout"


def test_line_editing_backspace_ctrl_u_and_ctrl_c_over_the_serial_line(console, line):
    line.expect("Press Enter to log in.")
    log_in(line)
    line.type("statux\x7fs\r")  # a typo rubbed out with DEL
    assert "link      " in line.expect("posagent 10000001> ")
    line.type("config show acquirer\x15help\r")  # Ctrl-U drops the whole line
    assert "journal tail [N]" in line.expect("posagent 10000001> ")
    line.type("reversals retry\x03")  # Ctrl-C: nothing is run
    shown = line.expect("posagent 10000001> ")
    assert "^C" in shown and "pending reversals" not in shown
    line.type("status\r\n")  # CRLF is one line end, not an empty command after it
    line.expect("link      ")
    line.expect("posagent 10000001> ")
    assert "unknown command" not in line.command("help")


def test_five_wrong_passwords_lock_the_console_even_after_a_restart(agent, pty_pair, line):
    console = Console(agent.config, pty_pair.a)
    try:
        line.expect("Press Enter to log in.")
        line.type("\r")
        for attempt in range(4):
            line.expect("Password: ")
            line.type(f"guess-{attempt}\r")
            assert f"({4 - attempt} attempt" in line.expect("left)")
        line.expect("Password: ")
        line.type("guess-4\r")
        assert "locked for 30 min" in line.expect("min")
        line.type("\r")
        assert "try again in" in line.expect("min.")
    finally:
        console.stop()
    again = Console(agent.config, pty_pair.a)
    try:
        line.expect("Press Enter to log in.")
        line.type(TECH_PASSWORD + "\r")  # Enter with the right password: still locked
        assert "The console is locked" in line.expect("min.")
    finally:
        again.stop()
    assert "guess" not in line.seen.decode("utf-8", "replace")
    assert TECH_PASSWORD.encode() not in line.seen  # typed at "Press Enter", before any prompt: not shown
    assert "console.login_locked" in journal_events(agent, "console.")


def test_an_idle_session_is_logged_out(agent, pty_pair, line):
    console = Console(agent.config, pty_pair.a, "--idle-timeout", "1")
    try:
        line.expect("Press Enter to log in.")
        log_in(line)
        assert "Idle for" in line.expect("logged out.")
        line.expect("Press Enter to log in.")
        line.type("status\r")  # a command typed after the logout only brings the password prompt
        line.expect("Password: ")
    finally:
        console.stop()
    assert "console.idle_logout" in journal_events(agent, "console.")


def test_the_console_refuses_a_missing_port_in_one_line(agent, tmp_path):
    result = subprocess.run([sys.executable, "-m", "agent", "--config", str(agent.config), "console", "--port",
                             str(tmp_path / "no-such-tty")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "cannot open the console port" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_reversal_queue_retry_and_mark_handled_with_a_reason(tmp_path, sim_host, pty_pair, line):
    agent = start_agent(tmp_path, sim_host.port, response_timeout=0.5,
                        extra=f'[console]\npassword_hash = "{TECH_HASH}"\n')
    console = None
    try:
        for mti in ("0200", "0400", "0401"):  # the sale is lost, and every reversal of it too
            sim_host.fault(f"drop_response:mti={mti},count={1 if mti == '0200' else 20}")
        assert agent.call("sale", {"amount": 1500, "card": "credit"})["outcome"]["status"] == "in_doubt"
        console = Console(agent.config, pty_pair.a)
        line.expect("Press Enter to log in.")
        log_in(line)
        queue = line.command("reversals")
        assert "pending" in queue and "NEEDS MANUAL" not in queue
        for _ in range(3):
            shown = line.command("reversals retry")
            if "NEEDS MANUAL" in shown:
                break
        assert "NEEDS MANUAL" in shown and "reversals handled ID REASON" in shown
        [row] = [r for r in shown.splitlines() if r.rstrip().endswith("NEEDS MANUAL") or " NEEDS MANUAL " in r]
        rev_id = row.split()[0]
        line.type(f'reversals handled {rev_id} "acquirer confirmed no charge"\r')
        line.expect("Supervisor password (hidden): ")
        line.type(SUPERVISOR_PASSWORD + "\r")
        done = line.expect("posagent 10000001> ")
        assert f"reversal {rev_id} marked handled (journaled): acquirer confirmed no charge" in done
        assert SUPERVISOR_PASSWORD not in done
        assert "reversal queue empty" in line.command("reversals")
    finally:
        if console is not None:
            console.stop()
        agent.stop()
    with sqlite3.connect(f"file:{tmp_path / 'journal.db'}?mode=ro", uri=True) as db:
        state, = db.execute("SELECT state FROM reversals WHERE id = ?", (int(rev_id),)).fetchone()
    assert state == "handled"
    assert "console.reversal_handled" in journal_events(agent, "console.")


def test_the_daemon_runs_the_console_when_the_port_is_configured(tmp_path, sim_host, pty_pair, line):
    agent = start_agent(tmp_path, sim_host.port,
                        extra=f'[console]\npassword_hash = "{TECH_HASH}"\nport = "{pty_pair.a}"\n')
    try:
        line.expect("Press Enter to log in.")
        log_in(line)
        assert "reversals 0 pending" in line.command("status")
        children = subprocess.run(["ps", "-ww", "-o", "pid=,args=", "--ppid", str(agent.proc.pid)], capture_output=True,
                                  text=True).stdout.strip().splitlines()
        assert len(children) == 1 and "console" in children[0]
    finally:
        agent.stop()
    console_pid = int(children[0].split()[0])
    assert not Path(f"/proc/{console_pid}").exists()  # stopped and reaped with the daemon
