"""Power cuts under the real daemon: the journal, its WAL and shared-memory file, the working-key file and
the console lock file live on the power-cut filesystem, where every write not fsynced is lost when the
power fails.  Targeted: for a sale, void, refund, correction and a settlement with its batch upload, the
power fails just before the operation's 1st fsync, its 2nd, … until one lands after the operation ended;
each time the daemon is killed, the disk mounted again, the daemon restarted, and the campaign's checker
finds the bank's ledger equal to the journal, nothing in doubt, no trace or batch reused, the chain and
`PRAGMA integrity_check` ok and no PAN on disk.  Random: a bounded campaign with power cuts at random
moments and between fsyncs among host faults and SIGKILLs."""

from __future__ import annotations

import pytest

from simulator.chaos.plan import MAX_CUT_AT, PlanSettings, Step, make_plan
from simulator.chaos.report import violation_report
from simulator.chaos.terminals import run_campaign
from simulator.powercut.mount import unavailable
from tests import harness

#: operation → what comes before each power-cut try (so there is something to void, refund, settle)
SETUPS = {"sale": ("sale",), "void": ("sale",), "refund": ("sale",), "correct": ("sale",),
          "settle": ("sale", "refund", "sale")}


@pytest.fixture(autouse=True)
def _needs_fuse():
    reason = unavailable()
    harness.require(reason is None, reason or "")


def _targeted_plan(op: str, tries: int) -> tuple[Step, ...]:
    steps: list[Step] = []
    for cut_at in range(1, tries + 1):
        for before in SETUPS[op]:
            steps.append(Step(len(steps), before, 1000 + len(steps), "debit", 0, None, None, 0.0))
        steps.append(Step(len(steps), op, 300 + cut_at, "debit", 0, None, "power_fsync", 0.0,
                          cut_at=cut_at, tear=cut_at % 3))
    return tuple(steps)


@pytest.mark.parametrize("op,tries", [("sale", 4), ("void", 5), ("refund", 5), ("correct", 11), ("settle", MAX_CUT_AT)])
def test_a_power_cut_between_any_two_fsyncs_of_an_operation_loses_nothing(tmp_path, op, tries):
    steps = _targeted_plan(op, tries)
    result = run_campaign(steps, tmp_path, checkpoint_every=len(SETUPS[op]) + 1)
    settings = PlanSettings(seed=0, ops=len(steps), kills=0)
    assert result.ok, violation_report(settings, result, None)
    cuts = result.tally.power_cuts
    landed = sorted(int(k.rsplit(" ", 1)[1]) for k in cuts if k.startswith(f"{op}: before fsync"))
    assert landed == list(range(1, len(landed) + 1)) and landed, cuts  # every fsync of it, from the first
    assert cuts[f"{op}: after the operation"] >= 1, f"{op} makes more than {tries} fsyncs: raise the tries ({cuts})"
    if op == "settle":
        assert any("inside settlement or batch upload" in k for k in result.tally.kill_windows), result.tally.kill_windows


def test_bounded_power_cut_campaign_keeps_bank_and_journal_equal(tmp_path):
    settings = PlanSettings(seed=2011, ops=600, kills=10, power_cuts=400, fault_rate=0.15)
    result = run_campaign(make_plan(settings), tmp_path, checkpoint_every=200)
    assert result.ok, violation_report(settings, result, None)
    cuts = result.tally.power_cuts
    assert sum(cuts.values()) == settings.power_cuts
    assert any("random" in k for k in cuts)
    for op in ("sale", "void", "refund", "correct", "settle"):  # hundreds of cuts reach inside each of them
        assert any(k.startswith(f"{op}: before fsync") for k in cuts), (op, cuts)
    assert result.last_check is not None and result.last_check.transactions > 0
