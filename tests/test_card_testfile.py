"""Test cards come from the file the configuration names (`[card_reader] test_cards`), never from the
simulator's code: the product imports nothing under simulator/, a bad card file is one line naming the
file, the line and the key, and a daemon with no card file refuses `--card` without charging anything."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.drivers.testcards import MAX_CARDS, load_test_cards
from agent.errors import ConfigError
from simulator.stack import TEST_CARDS_FILE
from simulator.testcards import load_cards
from tests.agentproc import start_agent

ROOT = Path(__file__).resolve().parent.parent


def simulator_imports(path: Path, root: Path = ROOT) -> list[str]:
    """`file:line` of every import of the simulator package in one module (top level or inside a function)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
        if any(n == "simulator" or n.startswith("simulator.") for n in names):
            found.append(f"{path.relative_to(root)}:{node.lineno}")
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant) \
                and str(node.args[0].value).startswith("simulator"):
            found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_the_product_imports_nothing_from_the_simulator():
    modules = sorted((ROOT / "agent").rglob("*.py"))
    assert len(modules) > 50
    assert [hit for module in modules for hit in simulator_imports(module)] == []


def test_the_import_walker_finds_an_import_hidden_in_a_function(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    import os\n    from simulator.testcards import load_cards\n"
                     "    import importlib\n    importlib.import_module('simulator.host')\n    import simulatorx\n",
                     encoding="utf-8")
    assert simulator_imports(probe, tmp_path) == ["probe.py:3", "probe.py:5"]


def test_the_simulators_card_file_gives_the_terminal_the_cards_the_host_knows():
    terminal, host = load_test_cards(TEST_CARDS_FILE), load_cards(TEST_CARDS_FILE)
    assert set(terminal) == set(host) and {"debit", "credit", "lost"} <= set(terminal)
    for name, card in terminal.items():
        assert (card.pan, card.expiry, card.track2) == (host[name].pan, host[name].expiry, host[name].track2)


GOOD = '[[card]]\nname = "a"\npan = "6226090000000048"\nexpiry = "3012"\nservice_code = "220"\n'


@pytest.mark.parametrize("text, where, message", [
    (GOOD.replace('"6226090000000048"', '"62260900"'), ":3: card[0].pan", "expected 13 to 19 digits, got '62260900'"),
    (GOOD.replace('"6226090000000048"', '"62260900000000４8"'), ":3: card[0].pan", "13 to 19 digits"),
    (GOOD.replace('"3012"', '"3013"'), ":4: card[0].expiry", "YYMM"),
    (GOOD.replace('"220"', '"22"'), ":5: card[0].service_code", "3 digits"),
    (GOOD.replace('"3012"', "3012"), ":4: card[0].expiry", "expected a string, got int 3012"),
    (GOOD.replace('service_code = "220"\n', ""), ":1: card[0].service_code", "missing key"),
    (GOOD.replace('"a"', '"a b"'), ":2: card[0].name", "letters, digits"),
    (GOOD + "\n# another\n" + GOOD, ":9: card[1].name", "duplicate card name 'a'"),
    ('[[card]]\nname = "a"\npan = \n', "", "not valid TOML"),
    ('title = "no cards"\n', "", "expected one or more [[card]] tables"),
    ('card = "debit"\n', "", "expected one or more [[card]] tables"),
    (GOOD.encode("utf-8") + b"# \xff\n", "", "not UTF-8 text (bad byte at offset"),
])
def test_a_bad_card_file_is_one_line_naming_the_file_the_line_and_the_key(tmp_path, text, where, message):
    path = tmp_path / "cards.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    with pytest.raises(ConfigError) as caught:
        load_test_cards(path)
    assert str(caught.value).startswith(f"{path}{where}") and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_card_file_and_too_many_cards_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="cannot read test cards: No such file"):
        load_test_cards(tmp_path / "none.toml")
    many = tmp_path / "many.toml"
    many.write_text("".join(GOOD.replace('"a"', f'"c{i}"') for i in range(MAX_CARDS + 1)), encoding="utf-8")
    with pytest.raises(ConfigError, match=f"at most {MAX_CARDS}"):
        load_test_cards(many)


card_names = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=32)
cards = st.lists(st.tuples(card_names, st.text("0123456789", min_size=13, max_size=19),
                           st.integers(0, 99), st.integers(1, 12), st.text("0123456789", min_size=3, max_size=3)),
                 min_size=1, max_size=8, unique_by=lambda c: c[0])


def render(rows) -> str:
    return "".join(f'# card {i}\n[[card]]\nname = "{n}"\npan = "{p}"\nexpiry = "{y:02d}{m:02d}"\n'
                   f'service_code = "{s}"\nbalance = 100\n\n' for i, (n, p, y, m, s) in enumerate(rows))


@settings(max_examples=60, deadline=None)
@given(rows=cards, data=st.data())
def test_every_good_file_loads_and_one_bad_pan_is_found_on_its_own_line(tmp_path_factory, rows, data):
    path = tmp_path_factory.mktemp("cards") / "cards.toml"
    path.write_text(render(rows), encoding="utf-8")
    loaded = load_test_cards(path)
    assert [(c.name, c.pan, c.expiry, c.service_code) for c in loaded.values()] == \
        [(n, p, f"{y:02d}{m:02d}", s) for n, p, y, m, s in rows]
    bad = data.draw(st.integers(0, len(rows) - 1))
    broken = list(rows)
    broken[bad] = (rows[bad][0], rows[bad][1][:12]) + rows[bad][2:]
    path.write_text(render(broken), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_test_cards(path)
    assert str(caught.value).startswith(f"{path}:{8 * bad + 4}: card[{bad}].pan: expected 13 to 19 digits")


def test_config_check_and_run_name_the_bad_card_file_and_its_line(tmp_path):
    cards = tmp_path / "cards.toml"
    cards.write_text(GOOD.replace('"3012"', '"30"'), encoding="utf-8")
    config = tmp_path / "posagent.toml"
    config.write_text(f'[journal]\npath = "{tmp_path / "journal.db"}"\nfingerprint_key_file = "{tmp_path / "fp.key"}"\n'
                      f'[daemon]\ncontrol_socket = "{tmp_path / "control.sock"}"\n'
                      f'[card_reader]\ntest_cards = "{cards}"\n', encoding="utf-8")
    for command in (["config", "check"], ["run"]):
        result = subprocess.run([sys.executable, "-m", "agent", "--config", str(config), *command], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode in (1, 2) and f"card_reader.test_cards: {cards}:4: card[0].expiry" in result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "journal.db").exists()


def test_a_daemon_without_a_card_file_refuses_a_named_card_and_charges_nothing(tmp_path, sim_host):
    agent = start_agent(tmp_path, sim_host.port, extra='[card_reader]\ntest_cards = ""\n')
    try:
        refused = agent.cli("sale", "12.34", "--card", "debit")
        assert refused.returncode == 1 and "no test-card file is configured ([card_reader] test_cards)" in (
            refused.stdout + refused.stderr)
        assert sim_host.ledger()["cards"].get("debit", {}).get("net_charged", 0) == 0
    finally:
        agent.stop()


def test_a_daemon_with_the_simulators_card_file_charges_the_named_card(tmp_path, sim_host):
    agent = start_agent(tmp_path, sim_host.port)
    try:
        assert f'test_cards = "{TEST_CARDS_FILE}"' in agent.config.read_text()
        sold = agent.json("sale", "12.34", "--card", "credit")
        assert sold["outcome"]["status"] == "approved", sold
        assert sim_host.ledger()["cards"]["credit"]["net_charged"] == 1234
        unknown = agent.cli("sale", "1.00", "--card", "no-such-card")
        assert unknown.returncode == 1 and "no test card named 'no-such-card'" in unknown.stdout + unknown.stderr
    finally:
        agent.stop()
