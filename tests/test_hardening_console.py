"""Separation of duties on the real technician console (socat pty, real daemon): a technician cannot take the
supervisor's powers, point the daemon at other paths, open the control socket or turn TLS off."""

from __future__ import annotations

import os
import stat

import pytest

from agent import config, roles, settings
from tests.agentproc import SUPERVISOR_PASSWORD, start_agent
from tests.test_console_serial import TECH_HASH, Console, Person, journal_events, log_in

pytestmark = pytest.mark.realstack


@pytest.fixture
def agent(tmp_path, sim_host):
    running = start_agent(tmp_path, sim_host.port, extra=f'[console]\npassword_hash = "{TECH_HASH}"\n')
    yield running
    running.stop()


@pytest.fixture
def line(pty_pair):
    person = Person(pty_pair.b)
    yield person
    person.close()


@pytest.fixture
def console(agent, pty_pair, line):
    running = Console(agent.config, pty_pair.a)
    yield running
    running.stop()


def test_a_technician_cannot_replace_the_supervisors_password(agent, console, line):
    line.expect("Press Enter to log in.")
    log_in(line)
    before = agent.config.read_text()
    shown = line.command("config set supervisor.password_hash")
    assert "error: supervisor.password_hash is the supervisor's password: only the supervisor sets it" in shown
    assert "New supervisor password" not in shown
    assert agent.config.read_text() == before
    # and the supervisor's powers stay the supervisor's
    assert agent.call("void", {"trace": 1}, password="field-tech-7")["error"]["code"] == "auth"


@pytest.mark.parametrize("setting, value", [
    ("daemon.control_socket", "/tmp/elsewhere.sock"),
    ("daemon.log_file", "/etc/passwd"),
    ("journal.fingerprint_key_file", "/tmp/fp.key"),
    ("journal.path", "/tmp/j.db"),
    ("daemon.socket_mode", "0666"),
    ("acquirer.tls", "false"),
    ("acquirer.tls_ca_file", "/tmp/ca.pem"),
    ("console.port", "/dev/ttyS0"),
    ("card_reader.manual_entry", "true"),
    ("supervisor.lockout_minutes", "30"),
])
def test_installation_settings_are_not_console_settable(agent, console, line, setting, value):
    line.expect("Press Enter to log in.")
    log_in(line)
    before = agent.config.read_text()
    shown = line.command(f"config set {setting} {value}")
    assert f"error: {setting} is an installation setting" in shown
    assert agent.config.read_text() == before


def test_the_master_key_is_not_a_setting_and_a_save_is_private_and_journaled(agent, console, line):
    line.expect("Press Enter to log in.")
    log_in(line)
    shown = line.command("config set keys.tmk")
    assert "error: keys.tmk is an installation setting" in shown and "hidden" not in shown
    os.chmod(agent.config, 0o644)
    assert "saved acquirer.response_timeout = 4.5" in line.command("config set acquirer.response_timeout 4.5")
    assert stat.S_IMODE(agent.config.stat().st_mode) == 0o600
    assert "error: acquirer.response_timeout: expected seconds above 0 and at most 300, got inf" in line.command(
        "config set acquirer.response_timeout inf")
    assert "console.config_set" in journal_events(agent, "console.")


def test_every_setting_has_an_owner_or_is_an_installation_setting():
    for section, keys in settings.SCHEMA.items():
        for key in keys:
            name = f"{section}.{key}"
            owners = [r for r in roles.ROLES if roles.may_set(r, section, key)]
            assert (name in roles.INSTALLATION_ONLY) != bool(owners), name
    for role, names in roles.SETTINGS.items():
        for name in names:
            section, _, key = name.partition(".")
            assert section in settings.SCHEMA and (key == "*" or key in settings.SCHEMA[section]), name


def test_supervisor_password_still_works_for_the_supervisor(agent):
    assert agent.call("settle", {"confirm": False})["ok"]
    assert agent.call("settle", {"confirm": True}, password=SUPERVISOR_PASSWORD)["ok"]


def test_the_custodians_load_the_master_key_as_components_and_it_never_appears_in_clear(tmp_path, sim_host,
                                                                                         pty_pair, line):
    from agent.keys.load import check_value
    from tests.test_dual_control import CUSTODIAN_KEYS, CUSTODIAN1, CUSTODIAN2
    from tests.test_keyload import C1, C2, TEST_KEY
    keys = (f'[keys]\ntmk = "00112233445566778899AABBCCDDEEFF"\ntmk_file = "{tmp_path / "tmk.enc"}"\n'
            f'device_key_file = "{tmp_path / "etc" / "device.key"}"\n' + CUSTODIAN_KEYS)
    agent = start_agent(tmp_path, sim_host.port, extra=f'[console]\npassword_hash = "{TECH_HASH}"\n' + keys)
    console = Console(agent.config, pty_pair.a)
    try:
        line.expect("Press Enter to log in.")
        log_in(line)
        assert "signed on" not in line.command("sign-on")  # the development key is not the acquirer's
        line.type("keys load\r")
        line.expect("Key custodian 1 (custodian1) password (hidden): ")
        line.type(CUSTODIAN1 + "\r")
        line.expect("Component 1 of 2 (hidden): ")
        line.type(C1 + "\r")
        line.expect("Check value on component 1's form: ")
        line.type("D5D44E\r")  # a misread form: refused, nothing stored
        assert "component 1 has check value D5D44F, not D5D44E as on its form: refused" in line.expect("posagent 10000001> ")
        assert not (tmp_path / "tmk.enc").exists()
        line.type("keys load\r")
        line.expect("Key custodian 1 (custodian1) password (hidden): ")
        line.type(CUSTODIAN1 + "\r")
        line.expect("Component 1 of 2 (hidden): ")
        line.type(C1 + "\r")
        line.expect("Check value on component 1's form: ")
        line.type("D5D44F\r")
        line.expect("hand over to custodian2: ")
        line.type("\r")
        line.expect("Key custodian 2 (custodian2) password (hidden): ")
        line.type(CUSTODIAN2 + "\r")
        line.expect("Component 2 of 2 (hidden): ")
        line.type(C2 + "\r")
        line.expect("Check value on component 2's form: ")
        line.type(check_value(bytes.fromhex(C2)) + "\r")
        assert "combined key check value 08D7B4" in line.expect("Check value of the combined key (from the key form): ")
        line.type("08D7B4\r")
        assert "master key loaded (check value 08D7B4)" in line.expect("posagent 10000001> ")
        agent.stop()
        agent.start()  # the loaded key is used from the next start
        assert "signed on: batch" in line.command("sign-on")
        assert "master key check value 08D7B4 (loaded)" in line.command("status")
        assert agent.call("sale", {"amount": 4200, "card": "debit"})["outcome"]["status"] == "approved"
        line.type("logout\r")
        line.expect("Logged out.")
    finally:
        console.stop()
        agent.stop()
    export = agent.cli("journal", "export", "--since", "2000-01-01", "-o", str(tmp_path / "export.json"))
    assert export.returncode == 0, export.stderr
    assert "console.keys_loaded" in journal_events(agent, "console.")
    assert stat.S_IMODE((tmp_path / "tmk.enc").stat().st_mode) == 0o600
    secrets = [bytes.fromhex(TEST_KEY), TEST_KEY.encode(), TEST_KEY.lower().encode(), CUSTODIAN1.encode(),
               CUSTODIAN2.encode()]
    for component in (C1, C2):
        secrets += [component.encode(), component.lower().encode()]
    for path in tmp_path.rglob("*"):
        if path.is_file() and not path.is_socket():
            data = path.read_bytes()
            assert not [s for s in secrets if s in data], f"a key in clear in {path.name}"
    assert not [s for s in secrets if s in line.seen]  # not echoed on the console either


def test_docs_roles_table_matches_the_code():
    from pathlib import Path
    readme = (Path(__file__).resolve().parent.parent / "docs" / "security.md").read_text(encoding="utf-8")
    block = readme.split("<!-- roles-table:begin -->\n", 1)[1].split("\n<!-- roles-table:end -->", 1)[0]
    assert block == roles.table_markdown()


def test_a_technician_who_changes_their_password_is_still_journaled_and_never_locked_out(agent, console, line):
    line.expect("Press Enter to log in.")
    log_in(line)
    for _ in range(3):  # more saves than it takes... each journaled with the new password, no failures counted
        line.type("config set console.password_hash\r")
        line.expect("New technician password (hidden): ")
        line.type("brand-new-pass\r")
        line.expect("Again: ")
        line.type("brand-new-pass\r")
        assert "saved console.password_hash = (set)" in line.expect("posagent 10000001> ")
    assert "-> INFO" in line.command("log level INFO")
    line.type("logout\r")
    line.expect("Press Enter to log in.")
    events = journal_events(agent, "console.")
    assert events.count("console.config_set") == 3 and events[-1] == "console.logout"
    assert "auth_failed" not in journal_events(agent, "auth")
