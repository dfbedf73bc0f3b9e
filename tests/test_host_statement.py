"""`posim host statement` and statement faults: bad input is one line naming what was expected."""

from __future__ import annotations

import subprocess
import sys

import pytest

from simulator.host.faults import FaultSpecError
from simulator.host.statement_faults import StatementFaultStore, parse_statement_fault
from tests.agentproc import ROOT


def posim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "simulator.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("spec, expected", [
    ("statement_bogus", "unknown statement fault 'statement_bogus'"),
    ("statement_rounding:count=0", "count must be from 1 to 1000"),
    ("statement_rounding:mti=0200", "unknown statement fault option 'mti'"),
    ("statement_rounding:seed=x", "not a number"), ("statement_rounding:seed", "needs key=value")])
def test_bad_statement_fault_specs_say_why(spec, expected):
    with pytest.raises(FaultSpecError, match=expected):
        parse_statement_fault(spec)


def test_statement_faults_are_kept_in_the_ledger_file_until_cleared(tmp_path):
    store = StatementFaultStore(tmp_path / "ledger.db")
    store.add(parse_statement_fault("statement_rounding:count=2,seed=9"))
    store.add(parse_statement_fault("statement_sale_missing"))
    assert [f.to_text() for f in StatementFaultStore(tmp_path / "ledger.db").rules()] == [
        "statement_rounding:count=2,seed=9", "statement_sale_missing:count=1,seed=0"]
    assert store.clear("statement_rounding") == 1 and store.clear() == 1 and store.rules() == []
    with pytest.raises(FaultSpecError, match="need a ledger file"):
        StatementFaultStore(":memory:")


def test_the_running_host_takes_statement_faults_on_its_control_port(sim_host):
    assert sim_host.control(op="add", rule="statement_foreign_line:seed=4")["rule"] == "statement_foreign_line:count=1,seed=4"
    from simulator.host.control import ControlError
    with pytest.raises(ControlError, match="unknown statement fault"):
        sim_host.control(op="add", rule="statement_nope")
    assert [f["rule"] for f in sim_host.control(op="list")["faults"]] == ["statement_foreign_line:count=1,seed=4"]
    assert sim_host.control(op="clear")["removed"] == 1
    done = posim("host", "fault", "add", "statement_bad", "--control", f"127.0.0.1:{sim_host.control_port}")
    assert done.returncode != 0 and "unknown statement fault" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("args, expected", [
    (["--date", "2026-12-03"], "--date must be a date YYYYMMDD"),
    (["--date", "20261203"], "no batch was settled on 20261203"),
    (["--date", "20261203", "--debit-rate", "abc"], "fee contract: expected a percentage"),
    (["--date", "20261203", "--format", "swift"], "unknown statement format 'swift'"),
    (["--date", "20261203", "--format", "unionpay-gbk", "--encoding", "utf-8"], "written in gbk, not utf-8")])
def test_statement_command_refuses_bad_input_in_one_line(tmp_path, args, expected):
    from simulator.host.ledger import Ledger
    Ledger(tmp_path / "ledger.db").close()
    done = posim("host", "statement", "--db", str(tmp_path / "ledger.db"), "--out", str(tmp_path / "s.csv"), *args)
    assert done.returncode == 2 and expected in done.stderr and "Traceback" not in done.stderr


def test_statement_of_a_day_without_settlement_for_a_named_merchant_is_empty(tmp_path):
    from agent.reconcile.formats import POSIM_CSV
    from agent.reconcile.statement import parse_statement
    from simulator.host.ledger import Ledger
    Ledger(tmp_path / "ledger.db").close()
    done = posim("host", "statement", "--db", str(tmp_path / "ledger.db"), "--out", str(tmp_path / "s.csv"),
                 "--date", "20261203", "--merchant", "123456789012345")
    assert done.returncode == 0, done.stderr
    parsed = parse_statement((tmp_path / "s.csv").read_bytes(), POSIM_CSV)
    assert parsed.lines == () and parsed.credit == 0


def test_no_ledger_is_one_line(tmp_path):
    done = posim("host", "statement", "--db", str(tmp_path / "none.db"), "--out", str(tmp_path / "s.csv"),
                 "--date", "20261203")
    assert done.returncode == 2 and "no ledger at" in done.stderr


def test_statement_faults_given_at_start_are_in_force(tmp_path):
    from tests.simhost import start_host
    host = start_host(tmp_path, "--fault", "statement_rounding:count=2", "--fault", "delay:seconds=1,count=1")
    try:
        rules = [f["rule"] for f in host.control(op="list")["faults"]]
        assert rules == ["delay:count=1,seconds=1", "statement_rounding:count=2,seed=0"]
    finally:
        host.stop()
