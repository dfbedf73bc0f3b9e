"""Fixes under every failure point (sans-IO engine, real journal file, real codec, the simulator's
acquirer in-process): a power cut after any effect, or any wire fate at any step, leaves the bank's
ledger equal to the journal, the fix in the state the operator is told, and one resume finishes the
fix with the intended net charge.  Plus the one-definition property of suspected duplicates."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from agent.engine import fixrun, fixes, purchases as ops, settlement
from agent.engine.card import sale as card_sale
from agent.engine.effects import EngineError
from tests.enginekit import (CASHIER, DELIVER, LOSE_ANSWER, LOSE_REQUEST, PROFILE, REFUSE, SUPERVISOR, World)
from tests.test_engine_properties import assert_bank_equals_journal, heal, ledger_net

CARD = "622609******0048"
#: a fix, set up in a fresh world: (the plan that starts it, the plan that resumes it, the net charge intended)
FIXES = ("resale", "undercharge", "refund_after_settlement", "duplicate_void", "duplicate_refund",
         "corrected_again")


def _setup(world: World, fix: str):
    first = world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(12000, test_card="debit"), CASHIER))
    assert first.status == "approved"
    trace = first.txn.trace
    if fix == "resale":
        return (fixes.correct(PROFILE, fixes.CorrectRequest(trace, 10000, test_card="debit"), SUPERVISOR),
                lambda: fixes.correct(PROFILE, fixes.CorrectRequest(trace, None, test_card="debit", resume=True),
                                      SUPERVISOR), 10000)
    if fix == "undercharge":
        return (fixes.correct(PROFILE, fixes.CorrectRequest(trace, 15000, test_card="debit"), SUPERVISOR),
                lambda: fixes.correct(PROFILE, fixes.CorrectRequest(trace, None, test_card="debit", resume=True),
                                      SUPERVISOR), 15000)
    if fix == "corrected_again":  # 120.00 corrected to 150.00 (a linked 30.00), then to 100.00: two refunds
        up = world.run(fixes.correct(PROFILE, fixes.CorrectRequest(trace, 15000, test_card="debit"), SUPERVISOR))
        assert up.status == "approved" and ledger_net(world).get(CARD) == 15000
        return (fixes.correct(PROFILE, fixes.CorrectRequest(trace, 10000), SUPERVISOR),
                lambda: fixes.correct(PROFILE, fixes.CorrectRequest(trace, None, resume=True), SUPERVISOR), 10000)
    if fix == "refund_after_settlement":
        assert world.run(settlement.settle(PROFILE, settlement.SettleRequest(True), SUPERVISOR)).status == "done"
        return (fixes.correct(PROFILE, fixes.CorrectRequest(trace, 10000), SUPERVISOR),
                lambda: fixes.correct(PROFILE, fixes.CorrectRequest(trace, None, resume=True), SUPERVISOR), 10000)
    second = world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(12000, test_card="debit", confirm_duplicate=True), CASHIER))
    assert second.status == "approved"
    if fix == "duplicate_refund":
        assert world.run(settlement.settle(PROFILE, settlement.SettleRequest(True), SUPERVISOR)).status == "done"
    request = fixes.DuplicateFixRequest(second.txn.id)
    return (fixes.fix_duplicate(PROFILE, request, SUPERVISOR),
            lambda: fixes.fix_duplicate(PROFILE, request, SUPERVISOR), 12000)


def _open(world: World) -> list:
    return world.journal.open_fixes()


def _finish(world: World, resume, target: int, started) -> None:
    """After the failure: the operator's one action (resume, or the fix again if it never started)."""
    heal(world)
    assert_bank_equals_journal(world)
    if _open(world):
        outcome = world.run(resume())
    else:
        outcome = world.run(started()) if ledger_net(world).get(CARD, 0) != target else None
    assert outcome is None or outcome.status in ("approved", "done"), outcome and outcome.message
    assert _open(world) == []
    assert ledger_net(world).get(CARD, 0) == target
    assert_bank_equals_journal(world)


def _effects(tmp: Path, fix: str) -> int:
    world = World(tmp)
    try:
        plan, _, _ = _setup(world, fix)
        count, result = 0, None
        while True:
            try:
                effect = plan.send(result)
            except StopIteration:
                return count
            count += 1
            result = world.perform(effect)
    finally:
        world.close()


@pytest.mark.parametrize("fix", FIXES)
def test_power_cut_after_any_effect_then_one_resume_finishes(tmp_path, fix):
    """SIGKILL or power cut between any two steps: recovery reports the fix, a resume finishes it."""
    steps = _effects(tmp_path / "count", fix)
    assert steps > 5
    left_open = 0
    for cut in range(steps + 1):
        world = World(tmp_path / f"{fix}-{cut}")
        try:
            plan, resume, target = _setup(world, fix)
            world.cut_after(plan, cut)
            left_open += bool(world.recover_telling_open_fixes())
            _finish(world, resume, target, lambda: _setup_again(world, fix, target))
        finally:
            world.close()
    assert left_open >= 2, "no cut left a fix open: the test would not notice a dropped fix"


def _setup_again(world: World, fix: str, target: int):
    """The fix started again from scratch (it was cut before its plan was journaled)."""
    sales = [t for t in world.journal.find(limit=50) if t.kind == "sale"]
    if fix.startswith("duplicate"):
        return fixes.fix_duplicate(PROFILE, fixes.DuplicateFixRequest(max(t.id for t in sales)), SUPERVISOR)
    first = min(sales, key=lambda t: t.id)
    return fixes.correct(PROFILE, fixes.CorrectRequest(first.trace, target, test_card="debit"), SUPERVISOR)


FAILING = (DELIVER, DELIVER, LOSE_ANSWER, LOSE_REQUEST, REFUSE, "decline")


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(FIXES), st.lists(st.sampled_from(FAILING), min_size=1, max_size=5))
def test_any_wire_fate_at_any_step_leaves_a_told_state_and_one_resume_finishes(fix, fates):
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp))
        try:
            plan, resume, target = _setup(world, fix)
            outcome = world.run_under(plan, fates)
            open_now = _open(world)
            if outcome is not None and outcome.status == "approved":
                assert open_now == [] and ledger_net(world).get(CARD, 0) == target
            elif outcome is not None and outcome.status == "open":
                [open_fix] = open_now
                told = outcome.details["owed"]
                actual = [s.as_step() for s in fixrun.progress(open_fix, world.journal.fix_txns(open_fix.id))
                          if s.status != "done"]
                assert told == actual
            _finish(world, resume, target, lambda: _setup_again(world, fix, target))
        finally:
            world.close()


# ---------------------------------------------------------------- one definition of a suspected duplicate

#: what may have happened to an earlier sale before the new one
HISTORY = st.lists(st.tuples(st.sampled_from(("debit", "credit")), st.sampled_from((5000, 7000)),
                             st.sampled_from(("approved", "voided", "partly_refunded", "refunded", "reversed")),
                             st.integers(min_value=0, max_value=2 * PROFILE.duplicate_window_seconds)),
                   min_size=0, max_size=5)


@settings(max_examples=40, deadline=None)
@given(HISTORY, st.sampled_from(("debit", "credit")), st.sampled_from((5000, 7000)),
       st.integers(min_value=0, max_value=2 * PROFILE.duplicate_window_seconds))
def test_the_guard_asks_exactly_when_the_list_would_list_the_new_sale(history, card, amount, wait):
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp))
        try:
            for earlier_card, earlier_amount, fate, gap in history:
                world.clock.advance(gap)
                lost = fate == "reversed"
                world.wire = lambda message: LOSE_REQUEST if lost and message is not None and message.mti == "0200" \
                    else DELIVER
                sold = world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(earlier_amount, test_card=earlier_card,
                                                                   confirm_duplicate=True, confirm_unusual=True),
                                          CASHIER))
                world.wire = lambda message: DELIVER
                if fate == "voided":
                    world.run(ops.void(PROFILE, ops.VoidRequest(sold.txn.trace), SUPERVISOR))
                elif fate in ("partly_refunded", "refunded"):
                    part = earlier_amount // 2 if fate == "partly_refunded" else earlier_amount
                    world.run(ops.refund(PROFILE, ops.RefundRequest(trace=sold.txn.trace, amount=part), SUPERVISOR))
            world.clock.advance(wait)
            asked = world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(amount, test_card=card, confirm_unusual=True),
                                       CASHIER))
            if asked.status == "needs_confirmation":
                assert asked.details["guard"] == "duplicate"
                new = world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(amount, test_card=card, confirm_unusual=True,
                                                                  confirm_duplicate=True), CASHIER))
            else:
                new = asked
            assert new.status == "approved"
            groups = world.journal.suspected_duplicates(window_seconds=PROFILE.duplicate_window_seconds)
            listed = any(t.id == new.txn.id for group in groups for t in group)
            assert listed == (asked.status == "needs_confirmation")
        finally:
            world.close()


def test_a_zero_right_amount_is_refused_before_anything(world):
    first = world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(12000, test_card="debit"), CASHIER))
    with pytest.raises(EngineError, match="more than 0"):
        world.run(fixes.correct(PROFILE, fixes.CorrectRequest(first.txn.trace, 0, test_card="debit"), SUPERVISOR))
    assert world.journal.all_fixes() == [] and ledger_net(world)[CARD] == 12000


def test_resuming_a_fix_whose_steps_all_went_through_says_so(world):
    """Killed after the last step's approval was journaled but before the fix was ended: a resume (or
    the restart) ends it without charging again, and says what was done."""
    first = world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(12000, test_card="debit"), CASHIER))
    plan = fixes.correct(PROFILE, fixes.CorrectRequest(first.txn.trace, 10000, test_card="debit"), SUPERVISOR)
    result = None
    while True:  # stop right after the new sale's outcome is journaled (the fix not yet ended)
        effect = plan.send(result)
        result = world.perform(effect)
        if getattr(effect, "method", None) == "complete" and result.kind == "correction":
            break
    plan.close()
    [fix] = world.journal.open_fixes()
    outcome = world.run(fixes.correct(PROFILE, fixes.CorrectRequest(first.txn.trace, None, resume=True),
                                      SUPERVISOR))
    assert outcome.status == "approved" and "Voided 120.00. Charged 100.00." in outcome.message
    assert world.journal.open_fixes() == [] and ledger_net(world)[CARD] == 10000


# -- a purchase corrected more than once -------------------------------------------------------------------

AMOUNTS = st.integers(min_value=1, max_value=300_00)


@settings(max_examples=40, deadline=None)
@given(first=AMOUNTS, fixes_asked=st.lists(st.tuples(AMOUNTS, st.booleans()), min_size=1, max_size=4))
def test_every_correction_of_a_purchase_leaves_the_card_charged_exactly_the_right_amount(first, fixes_asked):
    """The same correction again charges nothing more; a second correction counts what the first one charged
    (10.00 → 100.00 → 5.00 leaves 5.00, not 95.00), settled between them or not — on the bank's ledger."""
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp))
        try:
            sale = world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(first, test_card="debit"), CASHIER))
            assert sale.status == "approved"
            for right, settle_first in fixes_asked:
                if settle_first:
                    assert world.run(settlement.settle(PROFILE, settlement.SettleRequest(True), SUPERVISOR)).status \
                        == "done"
                outcome = world.run(fixes.correct(PROFILE, fixes.CorrectRequest(sale.txn.trace, right,
                                                                                 test_card="debit"), SUPERVISOR))
                assert outcome.status in ("approved", "done"), outcome.message
                assert ledger_net(world).get(CARD, 0) == right, (outcome.message, right)
                assert_bank_equals_journal(world)
                again = world.run(fixes.correct(PROFILE, fixes.CorrectRequest(sale.txn.trace, right,
                                                                               test_card="debit"), SUPERVISOR))
                assert again.status == "done" and "Nothing to correct" in again.message, again.message
                assert ledger_net(world).get(CARD, 0) == right
            assert _open(world) == []
        finally:
            world.close()


@pytest.fixture
def corrected_up(world):
    """10.00 keyed for 100.00 and corrected: the sale and its linked 90.00, on the bank's ledger."""
    sale = world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(1000, test_card="debit"), CASHIER))
    up = world.run(fixes.correct(PROFILE, fixes.CorrectRequest(sale.txn.trace, 10000, test_card="debit"), SUPERVISOR))
    assert up.details["method"] == "linked_sale" and ledger_net(world)[CARD] == 10000
    return world, sale, up


def test_a_second_correction_refunds_from_the_newest_part_and_says_why(corrected_up):
    world, sale, up = corrected_up
    with pytest.raises(EngineError, match="corrected before"):  # a void would leave the linked sale charged
        world.run(fixes.correct(PROFILE, fixes.CorrectRequest(sale.txn.trace, 300, method="resale",
                                                              test_card="debit"), SUPERVISOR))
    assert ledger_net(world)[CARD] == 10000
    down = world.run(fixes.correct(PROFILE, fixes.CorrectRequest(sale.txn.trace, 500), SUPERVISOR))
    assert down.status == "approved" and down.details["method"] == "refund", down.message
    assert "corrected before" in down.message and "95.00" in down.message
    refunds = [t for t in world.journal.find(limit=50) if t.kind == "refund"]
    assert sorted((t.original_id, t.amount) for t in refunds) == sorted(
        [(up.txn.id, 9000), (sale.txn.id, 500)])  # the newest part first, then the sale itself
    assert ledger_net(world)[CARD] == 500


def test_a_refund_of_a_corrected_sale_names_the_correction_it_does_not_reach(corrected_up):
    world, sale, up = corrected_up
    part = f"{up.txn.trace:06d}"
    back = world.run(ops.refund(PROFILE, ops.RefundRequest(trace=sale.txn.trace), SUPERVISOR))
    assert back.status == "approved" and ledger_net(world)[CARD] == 9000
    assert f"posagent refund --trace {part}" in back.message and "90.00" in back.message, back.message
    with pytest.raises(EngineError, match=f"fully refunded.*refund --trace {part}"):
        world.run(ops.refund(PROFILE, ops.RefundRequest(trace=sale.txn.trace), SUPERVISOR))
    rest = world.run(ops.refund(PROFILE, ops.RefundRequest(trace=up.txn.trace), SUPERVISOR))
    assert rest.status == "approved" and ledger_net(world).get(CARD, 0) == 0
    assert "charged apart" not in rest.message


def test_a_part_corrected_on_its_own_trace_stays_part_of_the_purchase(corrected_up):
    """The linked 90.00 is itself corrected to 85.00 on its own trace (void + re-sale, linked to it); the
    purchase then stands at 95.00, and correcting the sale's trace to 50.00 refunds exactly 45.00."""
    world, sale, up = corrected_up
    part = world.run(fixes.correct(PROFILE, fixes.CorrectRequest(up.txn.trace, 8500, test_card="debit"),
                                   SUPERVISOR))
    assert part.status == "approved" and part.details["method"] == "resale", part.message
    assert ledger_net(world)[CARD] == 9500
    same = world.run(fixes.correct(PROFILE, fixes.CorrectRequest(sale.txn.trace, 9500), SUPERVISOR))
    assert same.status == "done" and "stands at 95.00" in same.message, same.message
    down = world.run(fixes.correct(PROFILE, fixes.CorrectRequest(sale.txn.trace, 5000), SUPERVISOR))
    assert down.status == "approved" and ledger_net(world)[CARD] == 5000, down.message
    assert_bank_equals_journal(world)
    resold = part.txn  # the 85.00 re-sale, linked to the part: a refund of the sale names it too
    back = world.run(ops.refund(PROFILE, ops.RefundRequest(trace=sale.txn.trace), SUPERVISOR))
    assert back.status == "approved" and f"refund --trace {resold.trace:06d}" in back.message, back.message
    assert "40.00 refundable" in back.message and ledger_net(world)[CARD] == 4000
