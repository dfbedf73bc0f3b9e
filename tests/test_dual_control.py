"""Dual control of the terminal master key (PCI PIN security: split knowledge and dual control), and the
acquirer's address out of one person's reach.

Two key custodians each log in on the console for their own component and see only its check value (and
the combined key's at the end); one person cannot enter both; the ceremony is journaled without the
components.  The technician cannot move the acquirer (`acquirer.host`, `acquirer.port` are installation
settings), and with TLS off `posagent status` and the console's status say the link is not encrypted.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from agent import config
from agent.auth import hash_password, verify_password
from agent.console.commands import CommandTable
from agent.console.context import ConsoleContext
from agent.console.keyceremony import CLEAR_SCREEN
from agent.errors import PosagentError, UsageError
from agent.keys.load import KeyLoadError, check_value
from tests.agentproc import ROOT, start_agent
from tests.test_console_serial import TECH_HASH, Console, Person, log_in
from tests.test_keyload import C1, C2

CUSTODIAN1 = "first-keeper-1"
CUSTODIAN2 = "second-keeper-2"
CUSTODIAN_KEYS = (f'custodian1_hash = "{hash_password(CUSTODIAN1)}"\n'
                  f'custodian2_hash = "{hash_password(CUSTODIAN2)}"\n')
C2_KCV = check_value(bytes.fromhex(C2))


def keys_section(tmp_path, custodians: str = CUSTODIAN_KEYS) -> str:
    return (f'[keys]\ntmk_file = "{tmp_path / "tmk.enc"}"\ndevice_key_file = "{tmp_path / "etc" / "device.key"}"\n'
            + custodians)


def keys_loaded_details(directory) -> list[dict]:
    with sqlite3.connect(f"file:{directory / 'journal.db'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT details FROM events WHERE kind = 'console.keys_loaded' ORDER BY id").fetchall()
    return [json.loads(r[0])["details"] for r in rows]


# ---------------------------------------------------------------- over the real serial line

@pytest.fixture
def line(pty_pair):
    person = Person(pty_pair.b)
    yield person
    person.close()


@pytest.fixture
def terminal(tmp_path, sim_host, pty_pair, line):
    agent = start_agent(tmp_path, sim_host.port,
                        extra=f'[console]\npassword_hash = "{TECH_HASH}"\n' + keys_section(tmp_path))
    console = Console(agent.config, pty_pair.a)
    yield agent
    console.stop()
    agent.stop()


def test_two_custodians_each_enter_their_own_component_and_see_only_its_check_value(terminal, line, tmp_path):
    line.expect("Press Enter to log in.")
    log_in(line)
    line.type("keys load\r")
    intro = line.expect("Key custodian 1 (custodian1) password (hidden): ")
    assert "dual control: 2 key custodians, each logs in for their own component" in intro
    line.type(CUSTODIAN1 + "\r")
    assert "custodian1 logged in for component 1" in line.expect("Component 1 of 2 (hidden): ")
    line.type(C1 + "\r")
    line.expect("Check value on component 1's form: ")
    line.type("D5D44F\r")
    first = line.expect("hand over to custodian2: ")
    assert "component 1 check value D5D44F: accepted" in first
    line.type("\r")
    line.expect("Key custodian 2 (custodian2) password (hidden): ")
    line.type(CUSTODIAN2 + "\r")
    line.expect("Component 2 of 2 (hidden): ")
    line.type(C2 + "\r")
    line.expect("Check value on component 2's form: ")
    line.type(C2_KCV + "\r")
    combined = line.expect("Check value of the combined key (from the key form): ")
    assert f"component 2 check value {C2_KCV}: accepted" in combined and "combined key check value 08D7B4" in combined
    line.type("08D7B4\r")
    assert "master key loaded (check value 08D7B4)" in line.expect("posagent 10000001> ")

    screen = line.seen.decode("utf-8", "replace")
    custodian1_screen, custodian2_screen = screen.split(CLEAR_SCREEN, 1)
    assert "D5D44F" in custodian1_screen and C2_KCV not in custodian1_screen
    assert "D5D44F" not in custodian2_screen  # the screen (and its scrollback) was cleared for custodian 2
    for secret in (C1, C2, CUSTODIAN1, CUSTODIAN2):
        assert secret not in screen

    [record] = keys_loaded_details(terminal.directory)
    assert record["check_value"] == "08D7B4" and record["by"] == "technician"
    assert (record["component1_by"], record["component1_check_value"]) == ("custodian1", "D5D44F")
    assert (record["component2_by"], record["component2_check_value"]) == ("custodian2", C2_KCV)
    assert record["component1_at"] and record["component2_at"]
    assert C1 not in json.dumps(record) and C2 not in json.dumps(record)


def test_the_technician_cannot_move_the_acquirer_and_status_says_the_link_is_not_encrypted(terminal, line):
    line.expect("Press Enter to log in.")
    log_in(line)
    before = terminal.config.read_text()
    for setting, value in (("acquirer.host", "203.0.113.9"), ("acquirer.port", "5900")):
        assert f"error: {setting} is an installation setting (where the acquirer link goes)" in line.command(
            f"config set {setting} {value}")
    assert terminal.config.read_text() == before
    assert "link not encrypted (TLS off)" in line.command("status")
    status = terminal.cli("status")
    assert status.returncode == 0, status.stderr
    assert "link not encrypted (TLS off)" in status.stdout


# ---------------------------------------------------------------- the console's command table

@pytest.fixture
def cfg_path(tmp_path):
    path = tmp_path / "posagent.toml"
    path.write_text(f'[journal]\npath = "{tmp_path / "journal.db"}"\n' + keys_section(tmp_path))
    return path


def commands(path, events: list | None = None) -> CommandTable:
    audit = (lambda kind, details: events.append((kind, details))) if events is not None else (lambda k, d: None)
    return CommandTable(ConsoleContext(client=None, cfg=config.load(path), audit=audit))


def first_component_in(table: CommandTable):
    """custodian1 logs in, enters component 1 and hands over: the question custodian 2 answers next."""
    password = table.run("keys load").ask
    component = password.then(CUSTODIAN1).ask
    form = component.then(C1).ask
    hand_over = form.then("D5D44F").ask
    return hand_over.then("").ask


def test_one_person_cannot_enter_both_components(tmp_path):
    path = tmp_path / "posagent.toml"
    same = f'custodian1_hash = "{hash_password(CUSTODIAN1)}"\ncustodian2_hash = "{hash_password(CUSTODIAN1)}"\n'
    path.write_text(f'[journal]\npath = "{tmp_path / "journal.db"}"\n' + keys_section(tmp_path, same))
    asked = commands(path).run("keys load").ask
    assert asked.prompt == "Key custodian 1 (custodian1) password (hidden): " and asked.secret
    with pytest.raises(KeyLoadError, match="this password also opens custodian2's login: one person would hold "
                                           "two components; refused, nothing was stored"):
        asked.then(CUSTODIAN1)  # one password for both entries (each salted apart): refused before any component
    assert not (tmp_path / "tmk.enc").exists()


def test_a_custodians_wrong_password_stops_the_load_and_is_journaled(cfg_path, tmp_path):
    events: list = []
    asked = commands(cfg_path, events).run("keys load").ask
    with pytest.raises(KeyLoadError) as refused:
        asked.then(CUSTODIAN2)  # custodian 2's password is not custodian 1's
    assert str(refused.value) == ("wrong custodian1 password (4 attempts left); the key load stopped, "
                                  "nothing was stored")
    assert events == [("login_failed", {"role": "custodian1", "during": "keys load"})]
    second = first_component_in(commands(cfg_path))
    with pytest.raises(KeyLoadError, match="wrong custodian2 password"):
        second.then("not-the-password")
    assert not (tmp_path / "tmk.enc").exists()


def test_the_technician_cannot_type_a_component_without_the_custodians(cfg_path, tmp_path):
    with pytest.raises(KeyLoadError, match="wrong custodian1 password"):
        commands(cfg_path).run("keys load").ask.then("field-tech-7")
    with pytest.raises(UsageError, match=r"^usage: keys load \(no arguments"):
        commands(cfg_path).run("keys load 2")


@pytest.mark.parametrize("custodians, why", [
    ("", "dual control: no password is set for custodian1: create one with `posagent passwd --role custodian1`"),
    (f'custodian1_hash = "{hash_password(CUSTODIAN1)}"\n',
     "dual control: no password is set for custodian2: create one with `posagent passwd --role custodian2`"),
])
def test_keys_load_needs_both_custodians_passwords(tmp_path, custodians, why):
    path = tmp_path / "posagent.toml"
    path.write_text(keys_section(tmp_path, custodians))
    with pytest.raises(UsageError) as refused:
        commands(path).run("keys load")
    assert str(refused.value).startswith(why) and "\n" not in str(refused.value)


def test_the_same_password_entry_for_both_custodians_is_refused(tmp_path):
    path = tmp_path / "posagent.toml"
    entry = hash_password(CUSTODIAN1)
    path.write_text(keys_section(tmp_path, f'custodian1_hash = "{entry}"\ncustodian2_hash = "{entry}"\n'))
    with pytest.raises(UsageError, match="custodian1 and custodian2 have the same password entry"):
        commands(path).run("keys load")


def test_the_custodians_passwords_are_installation_settings(cfg_path):
    for name in ("keys.custodian1_hash", "keys.custodian2_hash"):
        with pytest.raises(PosagentError, match=f"{name} is an installation setting"):
            commands(cfg_path).run(f"config set {name}")


@pytest.mark.parametrize("role", ["custodian1", "custodian2"])
def test_passwd_makes_a_custodians_line(role):
    made = subprocess.run([sys.executable, "-m", "agent", "passwd", "--role", role, "--password-stdin"], cwd=ROOT,
                          input="keeper-pass-3\n", capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    section, entry = made.stdout.strip().splitlines()
    assert section == "[keys]" and entry.startswith(f'{role}_hash = "scrypt$')
    assert verify_password("keeper-pass-3", entry.split('"')[1])
