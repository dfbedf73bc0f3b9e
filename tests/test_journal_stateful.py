"""The journal against a simple in-memory model: random sales, voids, refunds, answers, failures,
reversals and settlements, and after every step the two agree on states, refundable amounts, batch
totals, pending reversals and the trace counter.  The hash chain verifies at the end of every run."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from agent.journal import Journal, JournalError

KEY = b"test-fingerprint-key-0123456789ab"
PANS = ("6226090000000048", "6226090000000055")
COUNTED = ("approved", "refunded_partially", "refunded")


@dataclass
class ModelTxn:
    kind: str
    amount: int
    batch: int  # the model's batch sequence (not the number)
    original: int | None
    state: str = "sending"
    armed: bool = True


@dataclass
class Model:
    txns: dict[int, ModelTxn] = field(default_factory=dict)
    pending: dict[int, int] = field(default_factory=dict)  # reversal id -> txn id
    tries: dict[int, int] = field(default_factory=dict)
    trace: int = 0
    batch: int = 1
    settling: bool = False

    def refundable(self, txn_id: int) -> int:
        original = self.txns[txn_id]
        if original.state not in ("approved", "refunded_partially"):
            return 0
        taken = sum(t.amount for t in self.txns.values() if t.original == txn_id and t.kind == "refund"
                    and t.state in ("approved", "sending", "in_doubt"))
        return max(0, original.amount - taken)

    def busy_children(self, txn_id: int) -> bool:
        return any(t.original == txn_id and t.state in ("sending", "in_doubt") for t in self.txns.values())


class JournalMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.journal = Journal.open(os.path.join(self.dir.name, "journal.db"), fingerprint_key=KEY)
        self.model = Model()

    def teardown(self):
        try:
            result = self.journal.verify()
            assert result.ok, result
        finally:
            self.journal.close()
            self.dir.cleanup()

    # ------------------------------------------------------------------ helpers
    def _begin(self, kind, amount, original=None):
        return self.journal.begin(kind, amount=amount, currency="156", pan=PANS[amount % 2], entry_mode="051",
                                  operator="01", role="cashier", original_id=original,
                                  request=lambda trace, batch: {"mti": "0200", "11": f"{trace:06d}"})

    def _record(self, txn, kind, amount, original=None):
        self.model.trace += 1
        assert txn.trace == self.model.trace
        self.model.txns[txn.id] = ModelTxn(kind, amount, self.model.batch, original)

    def _ids(self, predicate):
        return sorted(i for i, t in self.model.txns.items() if predicate(t))

    # ------------------------------------------------------------------ rules
    @rule(amount=st.integers(1, 100_000))
    def sale(self, amount):
        if self.model.settling:
            try:
                self._begin("sale", amount)
            except JournalError as exc:
                assert "being settled" in str(exc)
                return
            raise AssertionError("a sale was journaled while the batch was settling")
        self._record(self._begin("sale", amount), "sale", amount)

    @rule(pick=st.integers(0, 10 ** 6), share=st.integers(1, 100), likely=st.booleans())
    def refund(self, pick, share, likely):
        # mostly pick a sale that can be refunded, sometimes any sale (which must be refused)
        sales = self._ids(lambda t: t.kind == "sale" and (not likely or t.state in ("approved", "refunded_partially")))
        if not sales or self.model.settling:
            return
        original = sales[pick % len(sales)]
        o = self.model.txns[original]
        amount = max(1, o.amount * share // 100)
        voiding = any(t.original == original and t.kind == "void" and t.state in ("sending", "in_doubt")
                      for t in self.model.txns.values())
        allowed = amount <= self.model.refundable(original) and not voiding
        try:
            txn = self._begin("refund", amount, original)
        except JournalError:
            assert not allowed, f"refund of {amount} on {original} refused though {self.model.refundable(original)} left"
            return
        assert allowed, f"refund of {amount} accepted though only {self.model.refundable(original)} refundable"
        self._record(txn, "refund", amount, original)

    @rule(pick=st.integers(0, 10 ** 6), likely=st.booleans())
    def void(self, pick, likely):
        sales = self._ids(lambda t: t.kind == "sale" and (not likely or t.state == "approved"))
        if not sales or self.model.settling:
            return
        original = sales[pick % len(sales)]
        o = self.model.txns[original]
        allowed = o.state == "approved" and o.batch == self.model.batch and not self.model.busy_children(original)
        try:
            txn = self._begin("void", o.amount, original)
        except JournalError:
            assert not allowed
            return
        assert allowed
        self._record(txn, "void", o.amount, original)

    @precondition(lambda self: any(t.state == "sending" for t in self.model.txns.values()))
    @rule(pick=st.integers(0, 10 ** 6), approved=st.booleans())
    def answer(self, pick, approved):
        ids = self._ids(lambda t: t.state == "sending")
        txn_id = ids[pick % len(ids)]
        got = self.journal.complete(txn_id, approved=approved, response_code="00" if approved else "05",
                                    rrn="000000000001", auth_code="A1", response={"39": "00"})
        t = self.model.txns[txn_id]
        t.state, t.armed = ("approved" if approved else "declined"), False
        assert got.state == t.state
        if approved and t.kind == "void":
            self.model.txns[t.original].state = "voided"
        if approved and t.kind == "refund":
            o = self.model.txns[t.original]
            done = sum(x.amount for x in self.model.txns.values()
                       if x.original == t.original and x.kind == "refund" and x.state == "approved")
            o.state = "refunded" if done >= o.amount else "refunded_partially"

    @precondition(lambda self: any(t.state == "sending" for t in self.model.txns.values()))
    @rule(pick=st.integers(0, 10 ** 6), reason=st.sampled_from(("98", "A0", "06")))
    def no_valid_answer(self, pick, reason):
        ids = self._ids(lambda t: t.state == "sending")
        txn_id = ids[pick % len(ids)]
        rev = self.journal.fail(txn_id, reason=reason, error="no answer")
        t = self.model.txns[txn_id]
        t.state = "in_doubt"
        if t.armed:
            assert rev is not None and rev.reason == reason
            self.model.pending[rev.id] = txn_id
            self.model.tries[rev.id] = 0
        else:
            assert rev is None
        t.armed = False

    @precondition(lambda self: bool(self.model.pending))
    @rule(pick=st.integers(0, 10 ** 6), acknowledged=st.booleans())
    def send_reversal(self, pick, acknowledged):
        rev_id = sorted(self.model.pending)[pick % len(self.model.pending)]
        self.journal.reversal_attempt(rev_id, {"mti": "0400"})
        self.model.tries[rev_id] += 1
        if acknowledged:
            self.journal.reversal_acknowledged(rev_id, {"mti": "0410", "39": "00"})
            self.model.txns[self.model.pending.pop(rev_id)].state = "reversed"
        else:
            after = self.journal.reversal_failed(rev_id, "timeout", max_tries=2)
            expected = "needs_manual" if self.model.tries[rev_id] >= 2 else "pending"
            assert after.state == expected
            if expected == "needs_manual":
                txn_id = self.model.pending.pop(rev_id)
                self.journal.reversal_handled(rev_id, note="settled by phone", operator="sup")
                self.model.txns[txn_id].state = "resolved_manually"

    @rule()
    def settle(self):
        batch = self.journal.open_batch()
        if self.model.settling:
            self.journal.finish_settlement(batch.number)
            self.model.settling = False
            self.model.batch += 1
            return
        blocked = any(t.batch == self.model.batch and t.state in ("sending", "in_doubt")
                      for t in self.model.txns.values()) \
            or bool(self.model.pending) or any(t.armed and t.state == "sending" for t in self.model.txns.values())
        try:
            self.journal.begin_settlement(batch.number)
        except JournalError:
            assert blocked
            return
        assert not blocked
        self.model.settling = True

    @rule()
    def take_trace(self):
        self.model.trace += 1
        assert self.journal.take_trace("echo") == self.model.trace

    # ------------------------------------------------------------------ invariants
    @invariant()
    def states_agree(self):
        for txn_id, t in self.model.txns.items():
            assert self.journal.get(txn_id).state == t.state, txn_id

    @invariant()
    def refundable_amounts_agree(self):
        for txn_id in self._ids(lambda t: t.kind == "sale"):
            assert self.journal.refundable_amount(txn_id) == self.model.refundable(txn_id), txn_id

    @invariant()
    def totals_agree(self):
        totals = self.journal.batch_totals(self.journal.open_batch().number)
        mine = [t for t in self.model.txns.values() if t.batch == self.model.batch and t.state in COUNTED]
        debit = [t.amount for t in mine if t.kind == "sale"]
        credit = [t.amount for t in mine if t.kind == "refund"]
        assert (totals.debit_amount, totals.debit_count) == (sum(debit), len(debit))
        assert (totals.credit_amount, totals.credit_count) == (sum(credit), len(credit))

    @invariant()
    def reversal_queue_agrees(self):
        assert {r.id for r in self.journal.pending_reversals()} == set(self.model.pending)
        recovery = self.journal.in_doubt()
        assert {t.id for t in recovery.unanswered} == set(self._ids(lambda t: t.state == "sending"))

    @invariant()
    def counter_agrees(self):
        value = self.journal.core.conn.execute("SELECT value FROM counters WHERE name = 'trace'").fetchone()[0]
        assert value == self.model.trace


JournalMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("POSAGENT_STATEFUL_EXAMPLES", "100")), stateful_step_count=40, deadline=None)
test_journal_agrees_with_the_model = JournalMachine.TestCase
