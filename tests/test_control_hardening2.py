"""The control socket and the commands around it, against the real daemon, the simulator host, the CLI as a
subprocess and the console over a pty: a request whose caller left before its turn is never run; every
command that writes the daemon's files writes them private; a socket client cannot lock the console out;
a journal that is busy at the answer gives "outcome unknown", never "nothing charged"."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from agent.auth import hash_password
from tests.agentproc import ROOT, SUPERVISOR_PASSWORD, start_agent
from tests.harness import stop_process

pytestmark = pytest.mark.realstack

TECH_PASSWORD = "field-tech-7"
TECH_HASH = hash_password(TECH_PASSWORD)
WAIT = 30.0  # a bound for a broken daemon, never a timing assertion


def journal_events(directory: Path, kind: str) -> list[dict]:
    with sqlite3.connect(f"file:{directory / 'journal.db'}?mode=ro", uri=True) as db:
        return [{"operator": r[0], "role": r[1], "details": r[2]}
                for r in db.execute("SELECT operator, role, details FROM events WHERE kind = ? ORDER BY id", (kind,))]


def send_request(path: Path, request: dict) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(WAIT)
    sock.connect(str(path))
    sock.sendall(json.dumps(request).encode() + b"\n")
    return sock


def replies(sock: socket.socket):
    for line in sock.makefile("rb"):
        yield json.loads(line)


# -- a request whose caller left before its turn ------------------------------------------------------------

def test_a_sale_whose_caller_left_while_it_waited_never_reaches_the_bank(tmp_path, sim_host):
    agent = start_agent(tmp_path, sim_host.port, response_timeout=15.0)
    try:
        sim_host.fault("delay:seconds=3,mti=0200,count=1")  # the first sale holds the operation lock for 3 s
        first = send_request(agent.socket, {"id": 1, "op": "sale", "args": {"amount": 100, "card": "debit"}})
        deadline = time.monotonic() + WAIT
        while sim_host.control(op="list")["faults"]:  # the delay took the first sale's 0200: it holds the lock
            assert time.monotonic() < deadline, "the first sale never reached the host"
            time.sleep(0.02)
        second = send_request(agent.socket, {"id": 2, "op": "sale", "password": SUPERVISOR_PASSWORD,
                                             "args": {"amount": 200, "card": "credit"}})
        second.close()  # the cashier's CLI killed while its sale waits
        final = next(reply for reply in replies(first) if "notify" not in reply)
        first.close()
        assert final["ok"] and final["outcome"]["status"] == "approved", final
        deadline = time.monotonic() + WAIT
        while not (abandoned := journal_events(tmp_path, "request_abandoned")):
            assert time.monotonic() < deadline, "no request_abandoned event"
            time.sleep(0.1)
        assert agent.call("ping")["ok"]
    finally:
        agent.stop()
    [event] = abandoned
    details = json.loads(event["details"])["details"]
    assert details["op"] == "sale" and details["args"] == {"amount": 200, "card": "credit"}
    assert SUPERVISOR_PASSWORD not in event["details"]
    ledger = sim_host.ledger()
    assert [card["net_charged"] for card in ledger["cards"].values()] == [100]  # the second never reached the bank
    assert ledger["counts"]["sale"]["approved"] + ledger["counts"]["sale"]["declined"] == 1


# -- the daemon's files are private, whichever command creates them ------------------------------------------

def _loose_umask() -> None:
    os.umask(0o022)  # what a login shell usually has


def _private_config(directory: Path) -> Path:
    config = directory / "posagent.toml"
    config.write_text(f"""
[journal]
path = "{directory / 'journal.db'}"
fingerprint_key_file = "{directory / 'fingerprint.key'}"
[daemon]
control_socket = "{directory / 'control.sock'}"
log_file = "{directory / 'agent.log'}"
[console]
password_hash = "{TECH_HASH}"
""", encoding="utf-8")
    return config


def _assert_private(directory: Path, *, besides: set[str]) -> None:
    made = [p for p in directory.iterdir() if p.name not in besides and not p.is_symlink()]
    assert made, "the command wrote nothing"
    for path in made:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path.name} is {oct(mode)}"


def test_the_console_on_a_fresh_directory_writes_its_log_and_lock_state_private(tmp_path, pty_pair):
    daemon_dir = tmp_path / "terminal"
    daemon_dir.mkdir()
    config = _private_config(daemon_dir)
    port = serial.Serial(pty_pair.b, baudrate=115200, timeout=0.05)
    proc = subprocess.Popen([sys.executable, "-m", "agent", "--config", str(config), "console", "--port", pty_pair.a],
                            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_loose_umask)
    try:
        assert proc.stdout.readline().startswith("posagent console on")
        seen = b""
        port.write(b"\r")
        deadline = time.monotonic() + WAIT
        while b"Password: " not in seen:
            assert time.monotonic() < deadline, seen
            seen += port.read(64)
        port.write(b"not-the-password\r")  # a failure: the lock state file and log lines are written
        while b"attempt" not in seen:
            assert time.monotonic() < deadline, seen
            seen += port.read(64)
    finally:
        stop_process(proc)
        proc.stdout.close()
        proc.stderr.close()
        port.close()
    assert (daemon_dir / "agent.log").exists() and (daemon_dir / "journal.db.console-auth.json").exists()
    _assert_private(daemon_dir, besides={"posagent.toml"})


def test_the_daemon_and_the_journal_commands_on_a_fresh_directory_write_private_files(tmp_path, sim_host):
    from tests.agentproc import Agent, write_config
    directory = tmp_path / "terminal"
    directory.mkdir()
    agent = Agent(write_config(directory, sim_host.port), directory)
    agent.start()
    try:
        assert agent.call("sale", {"amount": 100, "card": "debit"})["outcome"]["status"] == "approved"
    finally:
        agent.stop()
    for name in ("agent.log", "journal.db-wal", "journal.db-shm"):
        (directory / name).unlink(missing_ok=True)
    for command in (["journal", "verify"], ["journal", "list"]):
        result = subprocess.run([sys.executable, "-m", "agent", "--config", str(agent.config), *command], cwd=ROOT,
                                capture_output=True, text=True, timeout=60, preexec_fn=_loose_umask)
        assert result.returncode == 0, result.stderr
    _assert_private(directory, besides={"posagent.toml", "test-cards.json"})


# -- a journal busy at the answer ---------------------------------------------------------------------------

def test_a_sale_whose_answer_meets_a_busy_journal_is_outcome_unknown_and_reversed_once_it_is_free(tmp_path, sim_host):
    agent = start_agent(tmp_path, sim_host.port, response_timeout=15.0)
    try:
        assert agent.cli("signon").returncode == 0
        sim_host.fault("delay:seconds=2,mti=0200,count=1")  # time to take the journal's lock under the sale
        sale = agent.cli_in_background("sale", "1.00", "--card", "debit")
        deadline = time.monotonic() + WAIT
        while sim_host.control(op="list")["faults"]:  # the request is journaled and at the bank
            assert time.monotonic() < deadline, "the sale never reached the host"
            time.sleep(0.02)
        other = sqlite3.connect(tmp_path / "journal.db", isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock when the answer comes
            out, err = sale.communicate(timeout=60)
            other.execute("ROLLBACK")
        finally:
            other.close()
        assert sale.returncode == 5, (sale.returncode, out, err)
        said = out + err
        assert "may have been charged" in said and "reversed" in said and "posagent status" in said, said
        assert "nothing was charged" not in said and "no new transactions" not in said, said
        assert "Traceback" not in said and len(said.strip().splitlines()) == 1, said
        charged = [card["net_charged"] for card in sim_host.ledger()["cards"].values()]
        assert charged == [100]  # the bank holds the money until the journal is writable again
        following = agent.cli("sale", "2.00", "--card", "credit")
        assert following.returncode == 0, following.stderr  # the next sale goes through
    finally:
        agent.stop()
    assert sorted(card["net_charged"] for card in sim_host.ledger()["cards"].values()) == [200]  # the first reversed


# -- wrong passwords lock the door they were typed at --------------------------------------------------------

def _read_until(port: serial.Serial, wanted: bytes, seen: bytearray) -> str:
    deadline = time.monotonic() + WAIT
    while wanted not in seen:
        assert time.monotonic() < deadline, f"console never showed {wanted!r}: {bytes(seen)[-600:]!r}"
        seen += port.read(port.in_waiting or 1)
    end = seen.index(wanted) + len(wanted)
    shown = bytes(seen[:end]).decode("utf-8", "replace")
    del seen[:end]
    return shown


def _lock_end(message: str) -> float:
    """The minutes past midnight of "until HH:MM" in a refusal."""
    hours, minutes = message.split("until ", 1)[1][:5].split(":")
    return int(hours) * 60 + int(minutes)


def test_guesses_on_the_control_socket_lock_the_socket_only_and_say_where_and_until_when(tmp_path, sim_host,
                                                                                          pty_pair):
    agent = start_agent(tmp_path, sim_host.port, extra=f'[console]\npassword_hash = "{TECH_HASH}"\n')
    port = serial.Serial(pty_pair.b, baudrate=115200, timeout=0.05)
    console = None
    try:
        for attempt in range(5):
            refused = agent.call("void", {"trace": 1}, password=f"guess-{attempt}")
            assert refused["error"]["code"] == "auth"
        locked_at = time.localtime(time.time() + 30 * 60)
        message = refused["error"]["message"]
        assert "now locked for 30 min on the control socket, until" in message, message
        assert abs(_lock_end(message) - (locked_at.tm_hour * 60 + locked_at.tm_min)) in (0, 1, 1439), message
        again = agent.call("void", {"trace": 1}, password=SUPERVISOR_PASSWORD)["error"]["message"]
        assert "supervisor functions are locked on the control socket" in again and "until" in again, again
        for attempt in range(5):  # the technician's password guessed on the socket too
            refused = agent.call("log_level", {}, password=f"guess-{attempt}")
        assert "locked for 30 min on the control socket" in refused["error"]["message"], refused
        status = agent.call("status")["result"]
        assert {(lock["role"], lock["source"]) for lock in status["lockouts"]} == {
            ("supervisor", "control"), ("technician", "control")}

        console = subprocess.Popen([sys.executable, "-m", "agent", "--config", str(agent.config), "console",
                                    "--port", pty_pair.a], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        assert console.stdout.readline().startswith("posagent console on")
        seen = bytearray()
        _read_until(port, b"Press Enter to log in.", seen)
        port.write(b"\r")
        _read_until(port, b"Password: ", seen)
        port.write(TECH_PASSWORD.encode() + b"\r")
        assert "Logged in." in _read_until(port, b"posagent 10000001> ", seen)  # the console's door is open
        port.write(b"log level WARNING\r")  # and the daemon takes the technician's word from the console
        assert "-> WARNING" in _read_until(port, b"posagent 10000001> ", seen)
        port.write(b"logout\r")
        _read_until(port, b"Press Enter to log in.", seen)
        port.write(b"\r")
        for attempt in range(5):  # the console's own lock: its own count, its own words
            _read_until(port, b"Password: ", seen)
            port.write(f"guess-{attempt}\r".encode())
        shown = _read_until(port, b"until ", seen)
        assert "now locked for 30 min on the serial console, until" in shown, shown
        port.write(b"\r")
        assert "(on the serial console, until " in _read_until(port, b")", seen)
    finally:
        if console is not None:
            stop_process(console)
            console.stdout.close()
            console.stderr.close()
        port.close()
        agent.stop()
    with sqlite3.connect(f"file:{tmp_path / 'journal.db'}?mode=ro", uri=True) as db:
        locks = [json.loads(r[0])["details"] for r in db.execute("SELECT details FROM events WHERE kind = 'auth_locked'")]
    assert {(lock["role"], lock["source"]) for lock in locks} == {("supervisor", "control"), ("technician", "control")}
