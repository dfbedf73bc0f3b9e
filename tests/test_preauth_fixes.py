"""A pre-auth completion's wrong-amount correction is a fix like a sale's (sans-IO engine, real journal
file, real codec, the simulator's acquirer in-process): under a power cut after any effect and any wire
fate at any step, the bank's ledger (charged and held) equals the journal, the fix is in the state the
operator is told, and one resume — `posagent correct TRACE --resume` — finishes the fix with the intended
net charge."""

from __future__ import annotations

import dataclasses
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from agent.engine import fixrun, effects as fx, fixes, routes, settlement
from agent.engine.preauth import plans as pa
from agent.engine.effects import EngineError
from simulator.host.holds import held_amount
from tests.enginekit import (CASHIER, DECLINE, DELIVER, LOSE_ANSWER, LOSE_REQUEST, PROFILE, REFUSE, SUPERVISOR,
                             World)
from tests.test_engine_properties import heal

DAY = 86400
#: a completion's fix, set up in a fresh world: (held, completed, settle first?, right amount, method)
FIXES = {
    "recomplete_down": (100000, 110000, False, 95000, "recomplete"),
    "recomplete_up": (100000, 10000, False, 100000, "recomplete"),
    "refund_after_settlement": (100000, 110000, True, 95000, "refund"),
    "linked_sale_beyond_tolerance": (100000, 100000, False, 130000, "linked_sale"),
    "linked_sale_after_settlement": (100000, 90000, True, 100000, "linked_sale"),
}


def held(world: World) -> int:
    return held_amount(world.ledger, "debit", datetime.fromtimestamp(world.clock.now, timezone.utc))


def journal_held(world: World) -> int:
    return sum(h.blocked for h in world.journal.open_holds(validity_seconds=30 * DAY, include_expired=False))


def journal_charged(world: World) -> int:
    return sum(v for k, v in world.journal.net_charged().items() if k.endswith("0048"))


def assert_bank_equals_journal(world: World) -> None:
    assert world.net_charged("debit") == journal_charged(world)
    assert held(world) == journal_held(world)
    assert world.journal.verify().ok


def correct(trace: int, amount: int | None, *, resume: bool = False):
    return routes.correct_any(PROFILE, fixes.CorrectRequest(trace, amount, test_card="debit", resume=resume),
                                     SUPERVISOR)


def _setup(world: World, fix: str):
    """The fix's starting plan, the plan that resumes it, and the net charge it is meant to leave."""
    hold_amount, completed, settle_first, right, _ = FIXES[fix]
    hold = world.run(pa.preauth(PROFILE, pa.PreauthRequest(hold_amount, test_card="debit"), SUPERVISOR))
    assert hold.status == "approved", hold.message
    wrong = world.run(pa.complete(PROFILE, pa.CompleteRequest(hold.txn.trace, completed), CASHIER))
    assert wrong.status == "approved", wrong.message
    if settle_first:
        assert world.run(settlement.settle(PROFILE, settlement.SettleRequest(True), SUPERVISOR)).status == "done"
    trace = wrong.txn.trace
    return correct(trace, right), lambda: correct(trace, None, resume=True), right


def _finish(world: World, fix: str, resume, target: int) -> None:
    """After the failure: faults stop, recovery runs, the operator's one action (resume, or the fix again
    when it was cut before its plan was journaled) leaves the intended charge and no open fix."""
    heal(world)
    assert_bank_equals_journal(world)
    if world.journal.open_fixes():
        outcome = world.run(resume())
    elif world.net_charged("debit") != target:
        completion = max((t for t in world.journal.find(limit=50) if t.kind == "completion" and t.state == "approved"),
                         key=lambda t: t.id)
        outcome = world.run(correct(completion.trace, target))
    else:
        outcome = None
    assert outcome is None or outcome.status in ("approved", "done"), outcome and outcome.message
    assert world.journal.open_fixes() == []
    assert world.net_charged("debit") == target and held(world) == 0
    assert_bank_equals_journal(world)


@pytest.mark.parametrize("fix", FIXES)
def test_each_fix_is_planned_and_ends_done(world, fix):
    plan, _, target = _setup(world, fix)
    outcome = world.run(plan)
    assert outcome.status == "approved", outcome.message
    assert outcome.details["method"] == FIXES[fix][4]
    [done] = world.journal.all_fixes()
    assert done.kind == "completion_fix" and done.state == "done" and done.target == target
    assert world.net_charged("debit") == target and held(world) == 0
    assert_bank_equals_journal(world)


def _effects(tmp: Path, fix: str) -> list:
    world = World(tmp)
    try:
        plan, _, _ = _setup(world, fix)
        seen, result = [], None
        while True:
            try:
                effect = plan.send(result)
            except StopIteration:
                return seen
            seen.append(effect)
            result = world.perform(effect)
    finally:
        world.close()


@pytest.mark.parametrize("fix", FIXES)
def test_the_plan_is_journaled_before_the_first_irreversible_step(tmp_path, fix):
    """No financial message of the fix goes out before `plan_fix`; a card the fix needs is read before it."""
    effects = _effects(tmp_path, fix)
    planned = next(i for i, e in enumerate(effects) if getattr(e, "method", None) == "plan_fix")
    first_sent = next(i for i, e in enumerate(effects)
                      if isinstance(e, fx.Exchange) and e.request.mti in ("0200", "0220"))
    assert planned < first_sent
    reads = [i for i, e in enumerate(effects) if isinstance(e, fx.ReadCard)]
    assert all(i < planned for i in reads)
    assert bool(reads) == (FIXES[fix][4] == "linked_sale")


@pytest.mark.parametrize("fix", FIXES)
def test_power_cut_after_any_effect_then_one_resume_finishes(tmp_path, fix):
    """SIGKILL or power cut between any two steps: recovery reports the fix, a resume finishes it."""
    steps = len(_effects(tmp_path / "count", fix))
    assert steps > 5
    left_open = 0
    for cut in range(steps + 1):
        world = World(tmp_path / f"{fix}-{cut}")
        try:
            plan, resume, target = _setup(world, fix)
            world.cut_after(plan, cut)
            open_now = world.recover_telling_open_fixes()
            left_open += bool(open_now)
            for open_fix in open_now:  # a completion's fix is resumed by the completion's trace, like a sale's
                original = world.journal.get(open_fix.original_id)
                summary = fixrun.summary(PROFILE, open_fix, original, world.journal.fix_txns(open_fix.id))
                assert f"posagent correct {original.trace:06d} --resume" in summary["standing"]
            _finish(world, fix, resume, target)
        finally:
            world.close()
    assert left_open >= 1, "no cut left a fix open: the test would not notice a dropped fix"


FAILING = (DELIVER, DELIVER, LOSE_ANSWER, LOSE_REQUEST, REFUSE, DECLINE)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(FIXES)), st.lists(st.sampled_from(FAILING), min_size=1, max_size=5))
def test_any_wire_fate_at_any_step_leaves_a_told_state_and_one_resume_finishes(fix, fates):
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp))
        try:
            plan, resume, target = _setup(world, fix)
            outcome = world.run_under(plan, fates)
            open_now = world.journal.open_fixes()
            if outcome is not None and outcome.status == "approved":
                assert open_now == [] and world.net_charged("debit") == target
            elif outcome is not None and outcome.status == "open":
                [open_fix] = open_now
                told = outcome.details["owed"]
                actual = [s.as_step() for s in fixrun.progress(open_fix, world.journal.fix_txns(open_fix.id))
                          if s.status != "done"]
                assert told == actual
                assert outcome.details["resume"] in outcome.message
            _finish(world, fix, resume, target)
        finally:
            world.close()


# ---------------------------------------------------------------- what the operator reads, failure by failure

def _fail_nth(world: World, mti: str, n: int, fate: str) -> None:
    """The n-th message of type `mti` from now meets `fate`; every other message is delivered."""
    seen = {"count": 0}

    def wire(message):
        if message is not None and message.mti == mti:
            seen["count"] += 1
            if seen["count"] == n:
                return fate
        return DELIVER
    world.wire = wire


@pytest.mark.parametrize("fate", [DECLINE, LOSE_ANSWER, LOSE_REQUEST])
def test_new_completion_fails_after_the_void_the_fix_says_where_the_money_stands(world, fate):
    plan, resume, _ = _setup(world, "recomplete_down")
    _fail_nth(world, "0200", 2, fate)  # the completion void goes through, the new completion does not
    outcome = world.run(plan)
    assert outcome.status == "open", outcome.message
    wrong = world.journal.get(outcome.details["original_id"])
    assert "Voided the completion of 1100.00." in outcome.message
    assert "950.00 still to complete" in outcome.message
    assert f"`posagent correct {wrong.trace:06d} --resume`" in outcome.message
    assert world.net_charged("debit") == 0 and held(world) == 100000  # the hold is back, nothing charged
    assert_bank_equals_journal(world)
    [fix] = world.journal.open_fixes()
    assert outcome.details["owed"] == [{"op": "completion", "amount": 95000, "status": "owed"}]
    heal(world)
    done = world.run(resume())
    assert done.status == "approved", done.message
    assert world.net_charged("debit") == 95000 and held(world) == 0
    assert world.journal.get_fix(fix.id).state == "done"
    assert_bank_equals_journal(world)


@pytest.mark.parametrize("fate", [DECLINE, LOSE_ANSWER])
def test_completion_void_fails_first_nothing_is_done_and_resume_finishes(world, fate):
    plan, resume, _ = _setup(world, "recomplete_down")
    _fail_nth(world, "0200", 1, fate)
    outcome = world.run(plan)
    assert outcome.status == "open", outcome.message
    assert "Nothing done yet." in outcome.message and "the completion of 1100.00 still to void" in outcome.message
    assert world.net_charged("debit") == 110000
    assert_bank_equals_journal(world)
    heal(world)
    assert world.run(resume()).status == "approved"
    assert world.net_charged("debit") == 95000 and world.journal.open_fixes() == []


@pytest.mark.parametrize("fate", [DECLINE, LOSE_ANSWER])
def test_refund_of_the_difference_fails_then_resume(world, fate):
    plan, resume, _ = _setup(world, "refund_after_settlement")
    _fail_nth(world, "0220", 1, fate)
    outcome = world.run(plan)
    assert outcome.status == "open" and "150.00 still to refund" in outcome.message, outcome.message
    assert world.net_charged("debit") == 110000
    heal(world)
    assert world.run(resume()).status == "approved"
    assert world.net_charged("debit") == 95000
    assert_bank_equals_journal(world)


def test_linked_sale_declined_then_resume(world):
    plan, resume, _ = _setup(world, "linked_sale_beyond_tolerance")
    _fail_nth(world, "0200", 1, DECLINE)
    outcome = world.run(plan)
    assert outcome.status == "open" and "300.00 still to charge: insert the card" in outcome.message, \
        outcome.message
    assert world.net_charged("debit") == 100000
    assert world.run(resume()).status == "approved"
    assert world.net_charged("debit") == 130000
    assert_bank_equals_journal(world)


def test_a_different_card_for_the_linked_sale_changes_nothing(world):
    _setup(world, "linked_sale_beyond_tolerance")
    wrong = max((t for t in world.journal.find(limit=20) if t.kind == "completion"), key=lambda t: t.id)
    with pytest.raises(EngineError, match="not the card of trace"):
        world.run(routes.correct_any(PROFILE, fixes.CorrectRequest(wrong.trace, 130000,
                                                                           test_card="credit"), SUPERVISOR))
    assert world.journal.all_fixes() == [] and world.net_charged("debit") == 100000


def test_an_expired_preauth_is_never_voided_into_nothing(world):
    """The pre-auth expired since the completion: voiding the completion could not be followed by a new
    one, so the fix refunds (or charges) the difference instead of completing again."""
    plan, _, _ = _setup(world, "recomplete_down")
    world.clock.advance((PROFILE.preauth_validity_days + 1) * DAY)
    outcome = world.run(plan)
    assert outcome.status == "approved" and outcome.details["method"] == "refund", outcome.message
    assert "expired" in outcome.message
    assert world.net_charged("debit") == 95000


def test_resume_with_another_amount_is_refused_naming_the_open_fix(world):
    plan, _, _ = _setup(world, "recomplete_down")
    _fail_nth(world, "0200", 2, DECLINE)
    outcome = world.run(plan)
    wrong = world.journal.get(outcome.details["original_id"])
    with pytest.raises(EngineError, match="open correction to 950.00") as refused:
        world.run(correct(wrong.trace, 90000))
    assert "posagent fixes --close" in str(refused.value)
    assert world.net_charged("debit") == 0


def test_resume_without_an_open_fix_says_so(world):
    _setup(world, "recomplete_down")
    wrong = max((t for t in world.journal.find(limit=20) if t.kind == "completion"), key=lambda t: t.id)
    with pytest.raises(EngineError, match="no open correction to resume"):
        world.run(correct(wrong.trace, None, resume=True))


def test_a_closed_fix_is_not_resumed_and_settlement_is_no_longer_blocked(world):
    plan, resume, _ = _setup(world, "recomplete_down")
    _fail_nth(world, "0200", 2, DECLINE)
    world.run(plan)
    [fix] = world.journal.open_fixes()
    blocked = settlement.settle(PROFILE, settlement.SettleRequest(True), SUPERVISOR)
    with pytest.raises(EngineError, match="still open"):
        world.run(blocked)
    world.journal.end_fix(fix.id, "closed", reason="completed by hand on the paper slip", operator="sup",
                          role="supervisor")
    with pytest.raises(EngineError, match="no open correction"):
        world.run(resume())
    assert world.run(settlement.settle(PROFILE, settlement.SettleRequest(True), SUPERVISOR)).status == "done"


def test_chinese_standing(world):
    plan, _, _ = _setup(world, "recomplete_down")
    _fail_nth(world, "0200", 2, DECLINE)
    world.run(plan)
    [fix] = world.journal.open_fixes()
    zh = dataclasses.replace(PROFILE, language="zh")
    original = world.journal.get(fix.original_id)
    standing = fixrun.standing(zh, fix, original, fixrun.progress(fix, world.journal.fix_txns(fix.id)))
    assert "已撤销 1100.00 的预授权完成。" in standing and "尚需完成 950.00" in standing


@settings(max_examples=25, deadline=None)
@given(completed=st.integers(1, 110000), rights=st.lists(st.tuples(st.integers(1, 150000), st.booleans()),
                                                        min_size=1, max_size=3))
def test_a_completion_corrected_again_and_again_leaves_exactly_the_last_right_amount(completed, rights):
    """Every correction counts what earlier ones charged (a linked sale of a difference is part of the stay),
    settled between them or not; the same correction again charges nothing — on the bank's ledger."""
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp))
        try:
            hold = world.run(pa.preauth(PROFILE, pa.PreauthRequest(100000, test_card="debit"), SUPERVISOR))
            assert world.run(pa.complete(PROFILE, pa.CompleteRequest(hold.txn.trace, completed), CASHIER)).status \
                == "approved"
            for right, settle_first in rights:
                if settle_first:
                    assert world.run(settlement.settle(PROFILE, settlement.SettleRequest(True), SUPERVISOR)).status \
                        == "done"
                standing = max((t for t in world.journal.find(limit=100) if t.kind == "completion"
                                and t.state in ("approved", "refunded_partially")), key=lambda t: t.id)
                outcome = world.run(correct(standing.trace, right))
                assert outcome.status in ("approved", "done"), outcome.message
                assert world.net_charged("debit") == right, (outcome.message, right)
                assert world.run(correct(standing.trace, right)).status in ("done", "approved")
                assert world.net_charged("debit") == right
                assert_bank_equals_journal(world)
        finally:
            world.close()
