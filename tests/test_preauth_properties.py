"""The engine's stateful test extended with the pre-authorization family: random holds, completions,
voids and settlements mixed with sales under random wire faults; the bank's holds and charges, the
journal's and the model's must agree.  And a power cut before every step of every pre-auth plan."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import precondition, rule

from agent.engine.preauth import plans as pa
from tests.enginekit import CASHIER, DELIVER, PROFILE, SUPERVISOR, World
from tests.test_engine_properties import FATES, EngineMachine, assert_bank_equals_journal, heal
from simulator.host.holds import open_holds

DAY = 86400


def ledger_holds(world: World) -> dict[str, int]:
    now = datetime.fromtimestamp(world.clock.now, timezone.utc)
    held: dict[str, int] = {}
    for hold in open_holds(world.ledger, now):
        if not hold["expired"]:
            held[hold["masked_pan"]] = held.get(hold["masked_pan"], 0) + hold["amount"]
    return held


def journal_holds(world: World) -> dict[str, int]:
    held: dict[str, int] = {}
    for hold in world.journal.open_holds(validity_seconds=30 * DAY):
        if hold.blocked:
            held[hold.txn.pan_masked] = held.get(hold.txn.pan_masked, 0) + hold.blocked
    return held


class PreauthMachine(EngineMachine):
    """The sale machine plus holds: the model keeps what each card should have held and paid."""

    def __init__(self):
        super().__init__()
        self.holds: dict[int, int] = {}  # approved pre-auth id → amount it holds now (0 once completed/voided)
        self.completions: dict[int, int] = {}  # live completion id → its pre-auth id

    def _arm(self, fate: str) -> None:
        fates = [fate]
        self.world.wire = lambda message: fates.pop(0) if fates and message is not None and \
            message.mti in ("0100", "0200", "0220") else DELIVER

    def _model_holds(self) -> dict[str, int]:
        held: dict[str, int] = {}
        for preauth_id, amount in self.holds.items():
            if amount:
                pan = self.world.journal.get(preauth_id).pan_masked
                held[pan] = held.get(pan, 0) + amount
        return held

    @rule(card=st.sampled_from(("debit", "credit")), amount=st.integers(1, 50_000), fate=st.sampled_from(FATES))
    def preauth(self, card, amount, fate):
        self._arm(fate)
        outcome = self._run(pa.preauth(PROFILE, pa.PreauthRequest(amount, test_card=card, confirm_duplicate=True),
                                       SUPERVISOR))
        if outcome is not None and outcome.status == "approved":
            self.holds[outcome.txn.id] = amount

    @precondition(lambda self: any(self.holds.values()))
    @rule(index=st.integers(0, 1000), percent=st.integers(1, 120), fate=st.sampled_from(FATES))
    def complete(self, index, percent, fate):
        open_ids = [i for i, amount in self.holds.items() if amount]
        preauth_id = open_ids[index % len(open_ids)]
        preauth_txn = self.world.journal.get(preauth_id)
        amount = max(1, preauth_txn.amount * percent // 100)
        self._arm(fate)
        outcome = self._run(pa.complete(PROFILE, pa.CompleteRequest(preauth_txn.trace, amount), CASHIER))
        if percent > 115:
            assert outcome is None  # refused before anything was sent
        if outcome is not None and outcome.status == "approved":
            self.holds[preauth_id] = 0
            self.completions[outcome.txn.id] = preauth_id
            self.model[preauth_txn.pan_masked] = self.model.get(preauth_txn.pan_masked, 0) + amount

    @precondition(lambda self: any(self.holds.values()))
    @rule(index=st.integers(0, 1000), fate=st.sampled_from(FATES))
    def preauth_void(self, index, fate):
        open_ids = [i for i, amount in self.holds.items() if amount]
        preauth_txn = self.world.journal.get(open_ids[index % len(open_ids)])
        self._arm(fate)
        outcome = self._run(pa.preauth_void(PROFILE, pa.HoldRef(preauth_txn.trace), SUPERVISOR))
        if outcome is not None and outcome.status == "approved":
            self.holds[preauth_txn.id] = 0

    @precondition(lambda self: self.completions)
    @rule(index=st.integers(0, 1000), fate=st.sampled_from(FATES))
    def completion_void(self, index, fate):
        completion_id = list(self.completions)[index % len(self.completions)]
        completion = self.world.journal.get(completion_id)
        self._arm(fate)
        outcome = self._run(pa.completion_void(PROFILE, pa.CompletionRef(completion.trace), SUPERVISOR))
        if outcome is not None and outcome.status == "approved":
            preauth_id = self.completions.pop(completion_id)
            self.holds[preauth_id] = self.world.journal.get(preauth_id).amount
            self.model[completion.pan_masked] -= completion.amount

    @rule()
    def heal_and_check(self):
        super().heal_and_check()
        assert ledger_holds(self.world) == journal_holds(self.world) == self._model_holds()

    @rule()
    def settle(self):
        super().settle()
        # a settled completion can no longer be voided: it leaves the set the void rule picks from
        self.completions = {c: p for c, p in self.completions.items()
                            if self.world.journal.get(c).batch_state == "open"}


PreauthMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=15, deadline=None,
                                            suppress_health_check=[HealthCheck.too_slow])
test_preauth_against_the_model = PreauthMachine.TestCase


# ---------------------------------------------------------------- a power cut before every step

def _prepare(world: World, operation: str):
    held = world.run(pa.preauth(PROFILE, pa.PreauthRequest(30000, test_card="debit"), SUPERVISOR))
    assert held.status == "approved"
    if operation == "preauth":
        return pa.preauth(PROFILE, pa.PreauthRequest(2500, test_card="credit"), SUPERVISOR)
    if operation == "preauth_void":
        return pa.preauth_void(PROFILE, pa.HoldRef(held.txn.trace), SUPERVISOR)
    if operation == "completion":
        return pa.complete(PROFILE, pa.CompleteRequest(held.txn.trace, 31000), CASHIER)
    done = world.run(pa.complete(PROFILE, pa.CompleteRequest(held.txn.trace, 31000), CASHIER))
    return pa.completion_void(PROFILE, pa.CompletionRef(done.txn.trace), SUPERVISOR)


@pytest.mark.parametrize("operation", ["preauth", "preauth_void", "completion", "completion_void"])
def test_power_cut_before_any_step_of_a_preauth_plan_recovers_with_bank_and_journal_equal(tmp_path, operation):
    cut = 0
    while True:
        world = World(tmp_path / f"{operation}-{cut}")
        try:
            finished = world.cut_after(_prepare(world, operation), cut)
            heal(world)
            assert_bank_equals_journal(world)
            assert ledger_holds(world) == journal_holds(world)
            assert world.journal.in_doubt().clean
        finally:
            world.close()
        if finished:
            break
        cut += 1
    assert cut > 3
