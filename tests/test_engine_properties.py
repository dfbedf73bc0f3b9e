"""Property and stateful tests of the engine against a model of the rules (sans-IO, real journal,
real codec, the simulator's acquirer in-process), and a crash at every step of every operation."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from agent.engine import fixes, purchases as ops, settlement
from agent.engine.card import sale as card_sale
from agent.engine.effects import EngineError
from tests.enginekit import (CASHIER, CORRUPT_MAC, DELIVER, LOSE_ANSWER, LOSE_REQUEST, PROFILE, REFUSE, SUPERVISOR,
                             WRONG_AMOUNT, World)

CARDS = ("debit", "credit")
FATES = (DELIVER, DELIVER, DELIVER, LOSE_ANSWER, LOSE_REQUEST, CORRUPT_MAC, WRONG_AMOUNT, REFUSE)


def journal_net(world: World) -> dict[str, int]:
    return world.journal.net_charged()


def ledger_net(world: World) -> dict[str, int]:
    report = world.ledger.net_report()["cards"]
    return {c["masked_pan"]: c["net_charged"] for c in report.values() if c["net_charged"]}


def heal(world: World) -> None:
    """Faults stop; whatever is in doubt is resolved the way the daemon does at start."""
    world.wire = lambda message: DELIVER
    outcome = world.run(settlement.recover(PROFILE))
    assert outcome.status == "done", outcome.message


def assert_bank_equals_journal(world: World) -> None:
    assert ledger_net(world) == journal_net(world)
    traces = [t.trace for t in world.journal.find(limit=500)]
    assert len(traces) == len(set(traces)), "a trace number was used twice"
    assert world.journal.verify().ok


class EngineMachine(RuleBasedStateMachine):
    """Random cashier work under random wire faults; the bank, the journal and the model must agree."""

    def __init__(self):
        super().__init__()
        self._dir = tempfile.TemporaryDirectory()
        self.world = World(Path(self._dir.name))
        self.model: dict[str, int] = {}  # masked PAN → what the cardholder should have paid
        self.sales: list = []  # approved sale Txns: (card, txn)
        self.next_fate = DELIVER

    def teardown(self):
        self.world.close()
        self._dir.cleanup()

    def _arm(self, fate: str) -> None:
        fates = [fate]
        self.world.wire = lambda message: fates.pop(0) if fates and message is not None and \
            message.mti in ("0200", "0220") else DELIVER

    def _run(self, plan):
        try:
            return self.world.run(plan)
        except EngineError:
            return None

    @rule(card=st.sampled_from(CARDS), amount=st.integers(1, 50_000), fate=st.sampled_from(FATES))
    def sale(self, card, amount, fate):
        self._arm(fate)
        outcome = self._run(card_sale.sale(PROFILE, card_sale.SaleRequest(amount, test_card=card, confirm_duplicate=True,
                                                              confirm_unusual=True), CASHIER))
        if outcome is not None and outcome.status == "approved":
            self.model[outcome.txn.pan_masked] = self.model.get(outcome.txn.pan_masked, 0) + amount
            self.sales.append(outcome.txn)

    @precondition(lambda self: self.sales)
    @rule(index=st.integers(0, 1000), fate=st.sampled_from(FATES))
    def void(self, index, fate):
        original = self.world.journal.get(self.sales[index % len(self.sales)].id)
        self._arm(fate)
        outcome = self._run(ops.void(PROFILE, ops.VoidRequest(original.trace), SUPERVISOR))
        if outcome is not None and outcome.status == "approved":
            self.model[original.pan_masked] -= original.amount

    @precondition(lambda self: self.sales)
    @rule(index=st.integers(0, 1000), part=st.integers(1, 100), fate=st.sampled_from(FATES))
    def refund(self, index, part, fate):
        original = self.world.journal.get(self.sales[index % len(self.sales)].id)
        refundable = self.world.journal.refundable_amount(original.id)
        amount = max(1, refundable * part // 100)
        self._arm(fate)
        outcome = self._run(ops.refund(PROFILE, ops.RefundRequest(trace=original.trace, amount=amount,
                                                                  confirm_repeat=True), SUPERVISOR))
        if outcome is not None and outcome.status == "approved":
            assert amount <= refundable
            self.model[original.pan_masked] -= amount

    @rule()
    def settle(self):
        self.world.wire = lambda message: DELIVER
        self._run(settlement.settle(PROFILE, settlement.SettleRequest(confirm=True), SUPERVISOR))

    @rule()
    def heal_and_check(self):
        heal(self.world)
        assert_bank_equals_journal(self.world)
        assert ledger_net(self.world) == {k: v for k, v in self.model.items() if v}
        assert self.world.journal.in_doubt().clean

    @invariant()
    def never_refunded_beyond_the_original(self):
        for txn in self.sales[-5:]:
            assert self.world.journal.refundable_amount(txn.id) >= 0


EngineMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=15, deadline=None,
                                           suppress_health_check=[HealthCheck.too_slow])
test_engine_against_the_model = EngineMachine.TestCase


# ---------------------------------------------------------------- a crash at every step

def _prepare(world: World, operation: str):
    """The plan to crash, after whatever setup it needs."""
    first = world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(10000, test_card="debit"), CASHIER))
    assert first.status == "approved"
    if operation == "sale":
        return card_sale.sale(PROFILE, card_sale.SaleRequest(2500, test_card="credit"), CASHIER)
    if operation == "void":
        return ops.void(PROFILE, ops.VoidRequest(first.txn.trace), SUPERVISOR)
    if operation == "refund":
        return ops.refund(PROFILE, ops.RefundRequest(trace=first.txn.trace, amount=3000), SUPERVISOR)
    if operation == "correct":
        return fixes.correct(PROFILE, fixes.CorrectRequest(first.txn.trace, 9000, test_card="debit"), SUPERVISOR)
    if operation == "settle":
        return settlement.settle(PROFILE, settlement.SettleRequest(confirm=True), SUPERVISOR)
    raise ValueError(operation)


def _effect_count(tmp: Path, operation: str) -> int:
    world = World(tmp)
    try:
        plan = _prepare(world, operation)
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


@pytest.mark.parametrize("operation", ["sale", "void", "refund", "correct", "settle"])
def test_power_cut_before_any_step_recovers_with_bank_and_journal_equal(tmp_path, operation):
    steps = _effect_count(tmp_path / "count", operation)
    assert steps > 3
    for cut in range(steps + 1):
        world = World(tmp_path / f"{operation}-{cut}")
        try:
            world.cut_after(_prepare(world, operation), cut)  # perform `cut` effects, then the power goes
            heal(world)
            if operation == "settle":  # an interrupted settlement finishes at start
                assert world.journal.in_doubt().settling is None
            assert_bank_equals_journal(world)
            assert world.journal.in_doubt().clean
        finally:
            world.close()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(FATES), min_size=1, max_size=6))
def test_whatever_the_wire_does_a_sale_is_charged_once_or_not_at_all(fates):
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp))
        try:
            outcome = world.run_under(card_sale.sale(PROFILE, card_sale.SaleRequest(4200, test_card="debit"), CASHIER), fates)
            heal(world)
            charged = ledger_net(world).get("622609******0048", 0)
            assert charged in (0, 4200)
            assert (charged == 4200) == (outcome is not None and outcome.status == "approved")
            assert_bank_equals_journal(world)
        finally:
            world.close()
