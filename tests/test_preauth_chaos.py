"""The chaos campaign with pre-auths in its mix, and its checker's hold rule: a hold the journal does not
know is named with its rows."""

from __future__ import annotations

from datetime import datetime, timezone

from simulator.chaos.checker import check
from simulator.chaos.plan import OPERATION_MIX, OPERATION_MTIS, PlanSettings, make_plan
from simulator.chaos.report import violation_report
from simulator.chaos.terminals import run_campaign
from simulator.host.ledger import Ledger


def test_the_mix_holds_completes_and_releases():
    assert {"preauth", "complete", "release"} <= set(OPERATION_MIX) <= set(OPERATION_MTIS)
    assert abs(sum(OPERATION_MIX.values()) - 1.0) < 1e-9
    ops = {step.op for step in make_plan(PlanSettings(seed=3, ops=400, kills=0))}
    assert {"preauth", "complete", "release"} <= ops


def test_a_short_campaign_of_holds_keeps_bank_and_journal_equal_and_the_checker_sees_a_stray_hold(tmp_path):
    plan = tuple(s for s in make_plan(PlanSettings(seed=11, ops=120, kills=4, fault_rate=0.3))
                 if s.op in ("preauth", "complete", "release", "sale", "settle"))[:40]
    settings_ = PlanSettings(seed=11, ops=120, kills=4, fault_rate=0.3)
    result = run_campaign(plan, tmp_path)
    assert result.ok, violation_report(settings_, result, None)
    assert any(op.startswith("preauth") for op in result.tally.operations)
    ledger = Ledger(tmp_path / "host-ledger.db")
    try:  # the bank holds the debit card once more, behind the terminal's back
        ledger.record_txn(tid="10000001", mid="123456789012345", batch="000099", stan="999999", mti="0100",
                          kind="preauth", card="debit", masked_pan="622609******0048", amount=555,
                          local_date="1203", response_code="00", icc=False, orig_id=None,
                          now=datetime.now(timezone.utc).isoformat())
    finally:
        ledger.close()
    found = check(tmp_path)
    assert {v.rule for v in found.violations} == {"holds"}, found.violations
    assert any("amount=555" in row for v in found.violations for row in v.ledger_rows)


def test_completions_sent_as_advices_under_lost_answers_and_kills_keep_bank_and_journal_equal(tmp_path):
    """A third of the completions go as offline advices (by the step's amount): the fault aimed at the
    completion hits its 0220; the advice whose answer is lost is delivered again before the next online
    message and before the check, and a kill while it is held at the host is recovered — once on the
    bank's ledger."""
    from simulator.chaos.plan import Step
    steps = (Step(1, "preauth", 90000, "debit", 0, None, None, 0.0),
             Step(2, "complete", 3 * 30001, "debit", 0, "drop_response:mti=0200,count=1", None, 0.0),
             Step(3, "sale", 1234, "credit", 0, None, None, 0.0),
             Step(4, "preauth", 50000, "credit", 0, None, None, 0.0),
             Step(5, "complete", 3 * 15001, "credit", 0, "delay:seconds=2,count=1,mti=0200", "in_flight", 0.3),
             Step(6, "preauth", 20000, "debit", 0, None, None, 0.0),
             Step(7, "settle", 0, "debit", 0, None, None, 0.0),
             Step(8, "preauth", 20000, "credit", 0, None, None, 0.0),  # the last: its advice's answer is lost,
             Step(9, "complete", 3 * 5000, "credit", 0, "drop_response:mti=0200,count=1", None, 0.0))  # the check waits
    result = run_campaign(steps, tmp_path)
    assert result.ok, violation_report(PlanSettings(seed=0, ops=len(steps), kills=1), result, None)
    assert result.tally.operations["preauth_complete advice"] == 3, result.tally.operations
    assert result.tally.faults_armed["drop_response"] == 2
