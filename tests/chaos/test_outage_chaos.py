"""The chaos campaign with outage windows (`posim chaos --outages N`): the host's `outage:` fault cuts the line
for a few steps at a time while faults, SIGKILLs and power cuts go on; store-and-forward is on, so
the sales of a window are read by chip (the virtual card through pcscd) and stored within the limits.  The
checker proves every stored sale is in the journal (none lost to a SIGKILL) and reached the bank exactly
once as an advice with the outcome the journal records, declines listed by `offline declined`; the
campaign checks the limits against the journal after every step; the bank's ledger equals the journal."""

from __future__ import annotations

import pytest

from simulator.chaos.plan import OUTAGE_STEPS, PlanError, PlanSettings, make_plan
from simulator.chaos.report import summary_table, violation_report
from simulator.chaos.terminals import run_campaign


def test_outage_windows_are_seeded_apart_and_leave_a_plan_without_them_unchanged():
    plain = make_plan(PlanSettings(seed=42, ops=300, kills=20))
    cut = make_plan(PlanSettings(seed=42, ops=300, kills=20, outages=6))
    assert cut == make_plan(PlanSettings(seed=42, ops=300, kills=20, outages=6))
    assert [s.outage for s in plain] == [False] * 300
    assert [(s.op, s.amount, s.card, s.fault, s.kill) for s in cut] == \
        [(s.op, s.amount, s.card, s.fault, s.kill) for s in plain]  # only the line changes
    flags = "".join("x" if s.outage else "." for s in cut)
    windows = [w for w in flags.split(".") if w]
    assert len(windows) == 6 and all(OUTAGE_STEPS[0] <= len(w) <= OUTAGE_STEPS[1] for w in windows), flags
    assert "during an outage" in next(s for s in cut if s.outage).describe()
    with pytest.raises(PlanError, match="outages must be from 0 to"):
        PlanSettings(seed=1, ops=10, kills=0, outages=5)


def test_a_campaign_with_outage_windows_and_power_cuts_forwards_every_stored_sale_once(tmp_path, pcscd):
    """Outage windows, host faults, SIGKILLs and power cuts in one plan (the journal on the power-cut
    filesystem): the seed whose larger run found the 77 bug (`--seed 20261208 --ops 600`), cut to CI size."""
    plan_settings = PlanSettings(seed=20261208, ops=60, kills=6, power_cuts=20, fault_rate=0.15, outages=4)
    steps = make_plan(plan_settings)
    result = run_campaign(steps, tmp_path, checkpoint_every=30)
    assert result.ok, violation_report(plan_settings, result, None)
    assert result.tally.outages >= 4 and result.tally.stored > 0, summary_table(plan_settings, result)
    assert sum(result.tally.power_cuts.values()) == plan_settings.power_cuts, result.tally.power_cuts
    assert "sales stored offline" in summary_table(plan_settings, result)


def test_a_sale_stored_before_the_terminal_ever_signed_on_is_forwarded_not_declined(tmp_path, pcscd):
    """Found by `posim chaos --seed 20261207 --ops 600 --kills 30 --power-cuts 60 --outages 12` and reduced by
    it to this one step: the line is cut from the start, so the terminal never signed on; the sale it stored
    went out as an advice before any sign-on, the bank answered 77 (sign on again) and the terminal took that
    for the bank's decline — the checker's `forwarded` rule: declined in the journal, no advice at the bank."""
    from simulator.chaos.plan import Step
    steps = (Step(number=0, op="refund", amount=32337, card="low-balance", pick=2,
                  fault="drop_after:count=1,mti=0220", kill=None, kill_after=0.0, outage=True),)
    result = run_campaign(steps, tmp_path)
    assert result.ok, violation_report(PlanSettings(seed=20261207, ops=1, kills=0), result, None)
    assert result.tally.stored == 1, (summary_table(PlanSettings(seed=20261207, ops=1, kills=0), result)
                                      + (tmp_path / "agent.log").read_text()[-4000:])
