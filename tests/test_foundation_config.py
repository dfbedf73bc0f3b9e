"""Configuration: the schema, the validated loader, the CLI's one-line errors, and the reference in docs/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from agent import config, settings
from agent.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "posagent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_gives_embedded_defaults_for_the_local_simulator(monkeypatch):
    monkeypatch.delenv("POSAGENT_CONFIG", raising=False)
    monkeypatch.setattr(config, "DEFAULT_CONFIG_PATHS", ())
    cfg = config.load(None)
    assert cfg.source is None
    assert cfg.acquirer.host == "127.0.0.1"
    assert cfg.acquirer.dialect == "cup"
    assert cfg["terminal"]["currency"] == "156"


def test_env_variable_names_the_file(tmp_path, monkeypatch):
    path = write(tmp_path, '[acquirer]\nport = 6000\n')
    monkeypatch.setenv("POSAGENT_CONFIG", str(path))
    assert config.load(None).acquirer.port == 6000


def test_valid_file_overrides_only_what_it_names(tmp_path):
    cfg = config.load(write(tmp_path, '[terminal]\nterminal_id = "ABCD1234"\n[acquirer]\nresponse_timeout = 5\n'))
    assert cfg.terminal.terminal_id == "ABCD1234"
    assert cfg.acquirer.response_timeout == 5.0 and isinstance(cfg.acquirer.response_timeout, float)
    assert cfg.terminal.merchant_id == settings.SCHEMA["terminal"]["merchant_id"].default


@pytest.mark.parametrize("text, key, why", [
    ('[acquirer]\nport = "x"\n', "acquirer.port", "expected an integer"),
    ('[acquirer]\nport = 70000\n', "acquirer.port", "from 1 to 65535"),
    ('[acquirer]\nprot = 1\n', "acquirer.prot", "unknown key"),
    ('[acquire]\nport = 1\n', "acquire", "unknown section"),
    ('[acquirer]\ntls = 1\n', "acquirer.tls", "expected true or false"),
    ('[acquirer]\nport = true\n', "acquirer.port", "expected an integer"),
    ('[terminal]\nterminal_id = "123"\n', "terminal.terminal_id", "8 printable"),
    ('[terminal]\nreceipt_width = 40\n', "terminal.receipt_width", "32, 42"),
    ('acquirer = 3\n', "acquirer", "expected a table"),
])
def test_bad_value_names_the_key_and_why(tmp_path, text, key, why):
    with pytest.raises(ConfigError) as info:
        config.load(write(tmp_path, text))
    assert info.value.key == key
    assert why in str(info.value)
    assert str(info.value).startswith(str(tmp_path))


def test_required_key_missing_is_named(monkeypatch):
    required = settings.Setting(str, "", "test-only required key", required=True)
    monkeypatch.setitem(settings.SCHEMA, "testonly", {"needed": required})
    with pytest.raises(ConfigError, match="testonly.needed: missing required key"):
        config.from_mapping({})


def test_not_toml_and_not_utf8_are_reported(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(write(tmp_path, "[acquirer\n"))
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"\xff\xfe[x]")
    with pytest.raises(ConfigError, match="not UTF-8 text \\(bad byte at offset 0\\)"):
        config.load(bad)
    with pytest.raises(ConfigError, match="file not found"):
        config.load(tmp_path / "missing.toml")


def test_dump_round_trips_through_the_loader(tmp_path):
    cfg = config.load(write(tmp_path, '[acquirer]\nport = 6001\n[terminal]\nmerchant_name = "A \\"B\\" C"\n'))
    again = config.load(write(tmp_path, config.dump_toml(cfg, hide_secrets=False)))
    assert again.as_dict(hide_secrets=False) == cfg.as_dict(hide_secrets=False)


def test_secrets_are_hidden_when_shown():
    stored = "scrypt$16384$8$1$" + "00" * 16 + "$" + "ab" * 32
    cfg = config.from_mapping({"supervisor": {"password_hash": stored}})
    assert cfg.as_dict()["supervisor"]["password_hash"] == "(set)"
    assert stored not in config.dump_toml(cfg)


@given(st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=8), st.booleans()),
                       max_size=4))
def test_arbitrary_acquirer_tables_never_raise_anything_but_config_error(table):
    try:
        config.from_mapping({"acquirer": table})
    except ConfigError as exc:
        assert exc.key and exc.key.startswith("acquirer")


def test_docs_configuration_reference_matches_the_schema():
    """docs/configuration.md's reference is `posagent config reference` verbatim: keys, types, defaults, meanings."""
    readme = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    begin, finish = "<!-- config-reference:begin -->\n", "<!-- config-reference:end -->"
    assert begin in readme and finish in readme
    block = readme.split(begin, 1)[1].split(finish, 1)[0]
    assert block.strip() == config.reference_markdown().strip(), \
        "docs/configuration.md is stale: run `make docs`"


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True,
                          input=stdin, cwd=ROOT, timeout=60)


def test_cli_bad_config_is_one_line_and_exit_2(tmp_path):
    path = write(tmp_path, '[acquirer]\nport = "x"\n')
    result = cli("--config", str(path), "config", "show")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "acquirer.port" in result.stderr and "Traceback" not in result.stderr


def test_cli_config_check_ok_and_show_json(tmp_path):
    path = write(tmp_path, '[acquirer]\nport = 6002\n')
    assert cli("config", "check", str(path)).returncode == 0
    shown = cli("--config", str(path), "config", "show", "--json")
    assert shown.returncode == 0 and '"port": 6002' in shown.stdout
