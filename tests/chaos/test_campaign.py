"""The chaos campaign: cashier operations against the real `posim host` and the real daemon, host faults
of every kind, SIGKILLs in flight, inside settlement and during recovery — afterwards the bank's ledger
equals the journal, nothing is left in doubt, no trace or batch is reused, the chain verifies and no
card data is on disk.  Every run has the bounded campaign; CI (CI=true) and POSAGENT_CHAOS_FULL=1 add the
CI-sized one (2,000 operations, 100 kills, about 2–3 minutes on 2 cores)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.chaos.checker import check
from simulator.chaos.plan import PlanError, PlanSettings, make_plan
from simulator.chaos.reduce import ddmin
from simulator.chaos.report import summary_table, violation_report
from simulator.chaos.terminals import run_campaign, split
from simulator.host.faults import FAULT_KINDS, WALLET_FAULT_KINDS
from simulator.host.ledger import Ledger
from tests.harness import IN_CI
from tests.simhost import ROOT

FULL = bool(os.environ.get("POSAGENT_CHAOS_FULL")) or IN_CI


def _assert_clean(plan_settings, result):
    assert result.ok, violation_report(plan_settings, result, None)
    assert sum(result.tally.kills.values()) == plan_settings.kills
    assert result.tally.recoveries >= plan_settings.kills
    assert result.last_check is not None and result.last_check.transactions > 0


def test_bounded_campaign_keeps_bank_and_journal_equal(tmp_path):
    plan_settings = PlanSettings(seed=1123, ops=260, kills=16, fault_rate=0.25)
    result = run_campaign(make_plan(plan_settings), tmp_path, checkpoint_every=130)
    _assert_clean(plan_settings, result)
    armed = set(result.tally.faults_armed)  # every fault the host has, at least once (the wallet's on its sales)
    assert set(FAULT_KINDS) <= armed <= set(FAULT_KINDS) | set(WALLET_FAULT_KINDS), armed
    assert result.tally.checkpoints == 2
    table = summary_table(plan_settings, result)
    for word in ("operations", "kills (SIGKILL)", "recoveries", "violations", "throughput"):
        assert word in table


@pytest.mark.slow
@pytest.mark.skipif(not FULL, reason="the CI-sized campaign runs under CI=true or POSAGENT_CHAOS_FULL=1")
def test_ci_campaign_2000_operations_100_kills(tmp_path):
    plan_settings = PlanSettings(seed=11, ops=2000, kills=100)  # a seed whose kills reach settlement
    result = run_campaign(make_plan(plan_settings), tmp_path, checkpoint_every=500)
    _assert_clean(plan_settings, result)
    assert result.tally.kill_windows["between send and outcome"] > 0
    assert result.tally.kill_windows["inside settlement or batch upload"] > 0


def test_checker_names_a_charge_the_journal_does_not_know(tmp_path):
    plan_settings = PlanSettings(seed=5, ops=6, kills=0, fault_rate=0.0)
    result = run_campaign(make_plan(plan_settings), tmp_path)
    assert result.ok, violation_report(plan_settings, result, None)
    ledger = Ledger(tmp_path / "host-ledger.db")
    try:  # the bank charges the debit card once more, behind the terminal's back
        ledger.record_txn(tid="10000001", mid="123456789012345", batch="000099", stan="999999", mti="0200",
                          kind="sale", card="debit", masked_pan="622609******0048", amount=777,
                          local_date="1123", response_code="00", icc=False, orig_id=None, now="2026-11-23T00:00:00")
    finally:
        ledger.close()
    found = check(tmp_path)
    rules = {v.rule for v in found.violations}
    assert rules == {"net_charge"}, found.violations
    card = next(v for v in found.violations if "622609******0048" in v.detail)
    assert any("amount=777" in row for row in card.ledger_rows)


def test_checker_finds_a_pan_written_to_the_log(tmp_path):
    plan_settings = PlanSettings(seed=6, ops=3, kills=0, fault_rate=0.0)
    assert run_campaign(make_plan(plan_settings), tmp_path).ok
    with open(tmp_path / "agent.log", "a", encoding="utf-8") as log:
        log.write("careless line: card 6250946000000016\n")
    found = check(tmp_path)
    assert [v.rule for v in found.violations] == ["card_data"]
    assert "credit PAN found in agent.log" in found.violations[0].detail


def test_the_same_seed_gives_the_same_plan_and_every_sublist_is_a_plan():
    a = make_plan(PlanSettings(seed=42, ops=500, kills=40))
    assert a == make_plan(PlanSettings(seed=42, ops=500, kills=40))
    assert a != make_plan(PlanSettings(seed=43, ops=500, kills=40))
    assert sum(1 for s in a if s.kill) == 40
    assert {s.kill for s in a if s.kill} == {"in_flight", "random", "in_recovery"}
    in_flight = [s for s in a if s.kill == "in_flight"]
    assert all(s.fault and s.fault.startswith("delay:") for s in in_flight)  # the request is held at the host


@pytest.mark.parametrize("bad", [dict(ops=0, kills=0), dict(ops=10, kills=11), dict(ops=10, kills=1, fault_rate=2.0)])
def test_bad_settings_are_refused_with_a_reason(bad):
    with pytest.raises(PlanError):
        PlanSettings(seed=1, **bad)


@settings(max_examples=200)
@given(size=st.integers(1, 120), data=st.data())
def test_ddmin_finds_exactly_the_steps_that_matter(size, data):
    culprits = frozenset(data.draw(st.sets(st.integers(0, size - 1), min_size=1, max_size=3)))
    reduced = ddmin(list(range(size)), lambda candidate: culprits <= set(candidate), max_runs=10_000)
    assert reduced == tuple(sorted(culprits))


def test_posim_chaos_prints_the_summary_and_refuses_bad_input(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "simulator.cli", "chaos", "--seed", "3", "--ops", "12", "--kills", "2",
                         "--keep", str(tmp_path / "run")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "violations" in ok.stdout and "kills (SIGKILL)" in ok.stdout and "throughput" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "simulator.cli", "chaos", "--ops", "5", "--kills", "9"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "kills must be" in bad.stderr and "Traceback" not in bad.stderr


def test_a_violation_report_gives_the_seed_the_rows_and_the_reduced_sequence():
    from simulator.chaos.violation import Violation
    from simulator.chaos.runner import RunResult, Tally

    plan_settings = PlanSettings(seed=99, ops=50, kills=3)
    steps = make_plan(plan_settings)
    result = RunResult(50, Tally(), (Violation("net_charge", "card 622609******0048: the bank charged 500",
                                               ("id=1 sale trace=000002",), ("id=9 sale stan=000002",)),), None)
    text = violation_report(plan_settings, result, steps[3:5])
    assert "seed 99" in text and "posim chaos --seed 99 --ops 50 --kills 3" in text
    assert "journal: id=1 sale trace=000002" in text and "ledger:  id=9 sale stan=000002" in text
    assert "shortest reproducing sequence found (2 steps)" in text and steps[4].describe() in text


@settings(max_examples=200)
@given(size=st.integers(1, 300), terminals=st.integers(1, 16))
def test_a_plan_cut_for_several_terminals_keeps_every_step_once_in_order(size, terminals):
    steps = make_plan(PlanSettings(seed=size, ops=size, kills=size // 10))
    parts = split(steps, terminals)
    assert tuple(s for part in parts for s in part) == steps
    assert len(parts) == min(size, terminals) and max(map(len, parts)) - min(map(len, parts)) <= 1


def test_terminals_side_by_side_each_keep_their_bank_and_journal_equal(tmp_path):
    plan_settings = PlanSettings(seed=2024, ops=90, kills=6, fault_rate=0.25)
    result = run_campaign(make_plan(plan_settings), tmp_path, terminals=2, checkpoint_every=30)
    _assert_clean(plan_settings, result)
    assert sum(result.tally.operations.values()) == 90
    assert result.tally.checkpoints == 2 * 2  # one mid-way and one at the end, per terminal
    for n in (1, 2):
        assert (tmp_path / f"terminal-{n}" / "journal.db").exists()
        assert check(tmp_path / f"terminal-{n}").ok
    assert "terminals  " in summary_table(plan_settings, result, terminals=2)


def test_a_violation_on_one_terminal_names_it_and_the_rerun_command():
    from simulator.chaos.violation import Violation
    from simulator.chaos.runner import RunResult, Tally
    from simulator.chaos.terminals import merge

    plan_settings = PlanSettings(seed=8, ops=20, kills=2)
    bad = RunResult(10, Tally(), (Violation("trace_reused", "trace 000004 twice"),), None)
    good = RunResult(10, Tally(), (), None)
    merged = merge([good, bad], elapsed=1.0)
    assert merged.steps == 20 and [v.detail for v in merged.violations] == ["terminal 2: trace 000004 twice"]
    assert "--terminals 2" in violation_report(plan_settings, merged, None, terminals=2)


def test_checker_reports_a_settled_batch_without_frozen_totals_instead_of_failing(tmp_path):
    import sqlite3

    plan_settings = PlanSettings(seed=5, ops=6, kills=0, fault_rate=0.0)
    assert run_campaign(make_plan(plan_settings), tmp_path).ok
    conn = sqlite3.connect(tmp_path / "journal.db")
    try:  # a damaged journal: its batch says settled but holds no frozen totals
        with conn:
            conn.execute("UPDATE batches SET state = 'settled', totals = NULL WHERE id = (SELECT min(id) FROM batches)")
    finally:
        conn.close()
    found = check(tmp_path, scan=False)
    assert any(v.rule == "batch_balance" and "has no frozen totals" in v.detail for v in found.violations), \
        found.violations
