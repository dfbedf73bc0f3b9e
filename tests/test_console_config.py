"""`config show` / `config set`: typed values checked by the schema, atomic saves, secrets write-only."""

from __future__ import annotations

import os
import stat
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent import config
from agent.auth import verify_password
from agent.console import configedit
from agent.console.commands import CommandTable
from agent.console.context import ConsoleContext
from agent.consolefiles import ConsoleFileError, FileStateStore, atomic_write
from agent.errors import ConfigError, UsageError

TMK = "0123456789ABCDEFFEDCBA9876543210"


@pytest.fixture
def cfg_file(tmp_path):
    path = tmp_path / "posagent.toml"
    path.write_text('[acquirer]\nport = 5800\n\n[keys]\ntmk = "%s"\n' % TMK)
    os.chmod(path, 0o640)
    return path


def shown_setting(text: str, name: str) -> str:
    """The value `config show` prints for `name` (names are padded to the longest of their section)."""
    [value] = [line.split("=", 1)[1].strip() for line in text.splitlines() if line.split(" ", 1)[0] == name]
    return value


def table(path) -> CommandTable:
    return CommandTable(ConsoleContext(client=None, cfg=config.load(path)))


def test_typed_text_becomes_the_schema_type():
    assert configedit.parse_typed("acquirer", "port", "5801") == 5801
    assert configedit.parse_typed("acquirer", "response_timeout", "2.5") == 2.5
    assert configedit.parse_typed("acquirer", "response_timeout", "3") == 3.0
    assert configedit.parse_typed("acquirer", "tls", "yes") is True
    assert configedit.parse_typed("terminal", "merchant_name", '"SHOP 1"') == "SHOP 1"
    assert configedit.parse_typed("terminal", "terminal_id", "20000002") == "20000002"


@pytest.mark.parametrize("name, text, why", [
    ("acquirer.port", "99999", "acquirer.port: expected an integer from 1 to 65535"),
    ("acquirer.port", "x", "acquirer.port: expected an integer"),
    ("acquirer.tls", "maybe", "acquirer.tls: expected true or false"),
    ("terminal.language", "fr", "expected one of en, zh"),
    ("acquirer.response_timeout", "nan", "acquirer.response_timeout: expected a number"),
])
def test_bad_values_are_refused_naming_the_key(name, text, why):
    section, key = configedit.resolve(name)
    with pytest.raises((ConfigError, UsageError), match=why):
        configedit.parse_typed(section, key, text)


def test_unknown_names_list_what_exists():
    with pytest.raises(UsageError, match="sections: terminal, acquirer"):
        configedit.resolve("nosuch.key")
    with pytest.raises(UsageError, match="keys: host, port"):
        configedit.resolve("acquirer.prot")


def test_config_set_saves_atomically_privately_and_keeps_the_other_keys(cfg_file):
    commands = table(cfg_file)
    reply = commands.run("config set acquirer.reversal_retries 5")
    assert "saved acquirer.reversal_retries = 5" in reply.text and "next start" in reply.text
    data = tomllib.loads(cfg_file.read_text())
    assert data["acquirer"] == {"port": 5800, "reversal_retries": 5} and data["keys"]["tmk"] == TMK
    assert stat.S_IMODE(cfg_file.stat().st_mode) == 0o600  # was 0640: a configuration holds password hashes
    assert config.load(cfg_file).acquirer.reversal_retries == 5
    assert not [p for p in cfg_file.parent.iterdir() if p.name.endswith(".tmp")]
    assert shown_setting(commands.run("config show acquirer").text, "acquirer.reversal_retries") == "5"


def test_a_refused_value_leaves_the_file_untouched(cfg_file):
    before = cfg_file.read_bytes()
    with pytest.raises(ConfigError):
        table(cfg_file).run("config set acquirer.reversal_retries 0")
    assert cfg_file.read_bytes() == before


def test_secrets_are_shown_as_set_and_never_taken_on_the_command_line(cfg_file):
    commands = table(cfg_file)
    shown = commands.run("config show").text
    assert shown_setting(shown, "keys.tmk") == "(set)" and TMK not in shown
    assert shown_setting(shown, "console.password_hash") == "(not set)"
    with pytest.raises(UsageError, match="is secret"):
        commands.run("config set console.password_hash new-pass-9")


def test_the_master_key_is_not_a_console_setting(cfg_file):
    before = cfg_file.read_bytes()
    for line in ("config set keys.tmk", "config set keys.tmk " + TMK):
        with pytest.raises(UsageError, match="installation setting .*keys load"):
            table(cfg_file).run(line)
    assert cfg_file.read_bytes() == before


def test_a_new_technician_password_is_asked_twice_and_stored_as_a_hash(cfg_file):
    commands = table(cfg_file)
    first = commands.run("config set console.password_hash").ask
    second = first.then("new-pass-9").ask
    assert second.secret
    with pytest.raises(UsageError, match="differ"):
        second.then("new-pass-8")
    commands.run("config set console.password_hash").ask.then("new-pass-9").ask.then("new-pass-9")
    stored = config.load(cfg_file).console.password_hash
    assert stored.startswith("scrypt$") and verify_password("new-pass-9", stored)
    assert "new-pass-9" not in cfg_file.read_text()


def test_settings_cannot_be_saved_without_a_file():
    commands = CommandTable(ConsoleContext(client=None, cfg=config.from_mapping({})))
    with pytest.raises(UsageError, match="--config FILE"):
        commands.run("config set acquirer.reversal_retries 5")


@settings(max_examples=100)
@given(st.text(max_size=40))
def test_any_saved_text_value_reads_back_the_same(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("c") / "posagent.toml"
    try:
        value = configedit.parse_typed("terminal", "merchant_name", text)
    except (ConfigError, UsageError):
        return
    try:
        configedit.save(path, "terminal", "merchant_name", value)
    except ConfigError as exc:  # wider than the receipt: refused where it is set
        assert "terminal.receipt_width" in str(exc)
        return
    assert config.load(path).terminal.merchant_name == value


def test_state_file_is_atomic_private_and_a_damaged_one_keeps_the_console_shut(tmp_path):
    store = FileStateStore(tmp_path / "j.db.console-auth.json")
    assert store.get_state("auth.technician") is None
    store.set_state("auth.technician", '{"failures": 2}')
    assert store.get_state("auth.technician") == '{"failures": 2}'
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    atomic_write(store.path, b"{not json")
    with pytest.raises(ConsoleFileError, match="damaged; remove it"):
        store.get_state("auth.technician")
