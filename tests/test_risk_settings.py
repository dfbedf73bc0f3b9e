"""Money and key-strength limits are not the technician's to weaken.

`keys.key_mode` is an installation setting and single-DES working keys are refused unless the dialect
requires them; the floor limit and the pre-auth tolerance are the supervisor's, each bounded (their help
text says the bounds).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pytest

from agent import config, roles, settings
from agent.console.commands import CommandTable
from agent.console.context import ConsoleContext
from agent.errors import ConfigError, UsageError
from agent.iso8583.dialects import get_dialect
from agent.keys.store import KeyStoreError, SoftwareKeyStore, check_key_mode, single_des_required
from tests.agentproc import ROOT

TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


@pytest.fixture
def cfg_path(tmp_path):
    path = tmp_path / "posagent.toml"
    path.write_text('[acquirer]\nport = 5800\n')
    return path


def console(path) -> CommandTable:
    return CommandTable(ConsoleContext(client=None, cfg=config.load(path)))


@pytest.mark.parametrize("line, why", [
    ("config set keys.key_mode 001", "keys.key_mode is an installation setting (the working keys' strength; single "
                                     "DES is refused unless the dialect requires it)"),
    ("config set emv.floor_limit 99999999", "emv.floor_limit may be changed by the supervisor, not the technician"),
    ("config set preauth.tolerance_percent 100",
     "preauth.tolerance_percent may be changed by the supervisor, not the technician"),
    ("config set preauth.tolerance_percent 10",
     "preauth.tolerance_percent may be changed by the supervisor, not the technician"),
])
def test_the_technician_cannot_weaken_keys_or_money_limits(cfg_path, line, why):
    before = cfg_path.read_bytes()
    with pytest.raises(UsageError) as refused:
        console(cfg_path).run(line)
    assert str(refused.value).startswith(why) and "\n" not in str(refused.value)
    assert cfg_path.read_bytes() == before


def test_the_roles_table_names_the_owners():
    assert "emv.floor_limit" in roles.SETTINGS["supervisor"] and "preauth.tolerance_percent" in roles.SETTINGS[
        "supervisor"]
    roles.check_setting("supervisor", "emv", "floor_limit")
    roles.check_setting("supervisor", "preauth", "tolerance_percent")
    table = roles.table_markdown()
    supervisor_row = next(row for row in table.splitlines() if row.startswith("| supervisor |"))
    assert "`emv.floor_limit`" in supervisor_row and "`preauth.tolerance_percent`" in supervisor_row
    assert "keys.key_mode" not in table


@pytest.mark.parametrize("section, key, most, stated", [
    ("preauth", "tolerance_percent", 20, "0 to 20"),
    ("emv", "floor_limit", 100_000, "0 to 100000"),
])
def test_money_limits_are_bounded_and_their_help_says_so(section, key, most, stated):
    assert stated in settings.SCHEMA[section][key].doc
    assert config.from_mapping({section: {key: most}})[section][key] == most
    with pytest.raises(ConfigError, match=f"{section}.{key}: expected an integer from 0 to {most}"):
        config.from_mapping({section: {key: most + 1}})
    with pytest.raises(ConfigError, match=f"{section}.{key}: expected an integer from 0 to {most}"):
        config.from_mapping({section: {key: -1}})


def test_the_daemon_refuses_single_des_working_keys_at_start(tmp_path):
    path = tmp_path / "posagent.toml"
    path.write_text(f'[keys]\nkey_mode = "001"\n[journal]\npath = "{tmp_path / "journal.db"}"\n'
                    f'fingerprint_key_file = "{tmp_path / "fp.key"}"\n'
                    f'[daemon]\ncontrol_socket = "{tmp_path / "control.sock"}"\nlog_file = "{tmp_path / "agent.log"}"\n')
    run = subprocess.run([sys.executable, "-m", "agent", "--config", str(path), "run"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert run.returncode != 0
    [said] = [line for line in run.stderr.splitlines() if line.strip()]
    assert "keys.key_mode 001 asks for single-DES working keys: refused" in said and "Traceback" not in run.stderr
    assert "001" in settings.SCHEMA["keys"]["key_mode"].doc and "refused" in settings.SCHEMA["keys"]["key_mode"].doc


@dataclass(frozen=True)
class SingleLengthOnly:
    """A dialect that offers nothing stronger than single DES in field 62."""

    name: str = "legacy"
    key_layouts: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "key_layouts", {"001": (8, 2)})


def test_single_des_only_where_the_dialect_requires_it():
    cup = get_dialect("cup")
    assert not single_des_required(cup) and not single_des_required(get_dialect("iso87"))
    with pytest.raises(KeyStoreError, match="single-DES working keys: refused, the cup dialect offers double-length"):
        check_key_mode("001", cup)
    check_key_mode("003", cup)
    assert single_des_required(SingleLengthOnly())
    check_key_mode("001", SingleLengthOnly())


def test_the_key_store_refuses_single_des_keys_unless_allowed():
    store = SoftwareKeyStore(TMK)
    with pytest.raises(KeyStoreError, match=r"single-DES working keys \(key mode 001\) refused"):
        store.install_working_keys([(bytes(8), bytes(4)), (bytes(8), bytes(4))], key_mode="001")
    assert not store.has_keys
    with pytest.raises(KeyStoreError, match="single-DES key"):
        SoftwareKeyStore(TMK[:8])
    assert SoftwareKeyStore(TMK[:8], single_des=True).single_des
