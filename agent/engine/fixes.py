"""Fixing mistakes: wrong amount (S1 over-, S3 undercharge) and duplicate charges (S2).

Each fix picks the right tool from the batch state and says which and why; every step is its own
journaled transaction linked into the original's chain.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.engine.common import Gen, flush_reversals, connect
from agent.engine.effects import EngineError, Journal, Outcome
from agent.engine.operations import (Operator, RefundRequest, SaleRequest, VoidRequest, refund, sale, void,
                                     _money)
from agent.engine.requests import Profile


@dataclass(frozen=True)
class CorrectRequest:
    trace: int
    right_amount: int
    method: str = "auto"  # auto | refund (overcharge) | resale (void + full re-sale while open)
    test_card: str | None = None


@dataclass(frozen=True)
class DuplicateFixRequest:
    txn_id: int


def _original(trace: int) -> Gen:
    found = yield Journal("find", (), {"trace": trace, "limit": 20})
    sales = [t for t in found if t.kind in ("sale", "correction")]
    if not sales:
        raise EngineError(f"no sale with trace {trace:06d} on this terminal", code="not_found")
    return max(sales, key=lambda t: t.created_at)


def _resolve_uncertain(profile: Profile, original) -> Gen:
    """Never act on an original whose outcome is unknown: resolve it first (S3)."""
    if original.state not in ("sending", "in_doubt"):
        return original
    yield from connect()
    if original.state == "sending":
        yield Journal("fail", (original.id,), {"reason": "98", "error": "no outcome recorded; reversing"})
    yield from flush_reversals(profile)
    resolved = yield Journal("get", (original.id,))
    if resolved.state in ("sending", "in_doubt"):
        raise EngineError(f"trace {original.trace:06d} still has no final outcome; nothing more is charged "
                          f"until it is resolved", code="original_uncertain", txn_id=original.id)
    return resolved


def correct(profile: Profile, request: CorrectRequest, operator: Operator) -> Gen:
    original = yield from _original(request.trace)
    original = yield from _resolve_uncertain(profile, original)
    if original.state in ("reversed", "declined", "voided"):
        raise EngineError(f"trace {original.trace:06d} is {original.state}: the customer was not charged by it; "
                          f"run a new sale of {_money(profile, request.right_amount)} instead",
                          code="not_correctable", txn_id=original.id)
    charged = yield Journal("refundable_amount", (original.id,))  # what the card stands charged now
    right = request.right_amount
    chain = original.chain_id or original.id
    open_batch = original.batch_state == "open"
    if right == charged:
        return Outcome("correct", "done", f"Nothing to correct: trace {original.trace:06d} stands at "
                                          f"{_money(profile, charged)}.", txn=original)
    overcharge = right < charged
    by_refund = overcharge and (request.method == "refund" or not open_batch
                                or original.state == "refunded_partially")
    if by_refund:
        difference = charged - right
        why = ("the batch is settled" if not open_batch else
               "it was partly refunded already" if original.state == "refunded_partially" else "as asked")
        outcome = yield from refund(profile, RefundRequest(trace=original.trace, amount=difference,
                                                           confirm_repeat=True), operator)
        return _combine("correct", f"Overcharge of {_money(profile, difference)}: refunding the difference "
                                   f"({why}).", outcome)
    if overcharge or request.method == "resale":
        if not open_batch:
            raise EngineError("the batch is settled: a void is no longer possible; use --method refund",
                              code="batch_settled")
        voided = yield from void(profile, VoidRequest(original.trace), operator)
        if voided.status != "approved":
            return _combine("correct", "Voiding the original failed; nothing else was done.", voided)
        resale = yield from sale(profile, SaleRequest(right, test_card=request.test_card, confirm_duplicate=True,
                                                      confirm_unusual=True, kind="correction",
                                                      original_id=original.id, chain_id=chain), operator)
        lead = (f"Batch open: voided {_money(profile, original.amount)} and charged the right "
                f"{_money(profile, right)}.")
        if resale.status != "approved":
            lead = (f"Voided {_money(profile, original.amount)}, but the new sale of {_money(profile, right)} "
                    f"did not go through: the customer has not paid — charge {_money(profile, right)} again.")
        return Outcome("correct", resale.status, f"{lead} {resale.message}", txn=resale.txn,
                       steps=voided.steps + resale.steps, details={"original_id": original.id, "method": "resale"})
    difference = right - charged
    outcome = yield from sale(profile, SaleRequest(difference, test_card=request.test_card, confirm_duplicate=True,
                                                   confirm_unusual=True, kind="correction",
                                                   original_id=original.id, chain_id=chain), operator)
    return _combine("correct", f"Undercharge: collecting the {_money(profile, difference)} difference as a "
                               f"sale linked to trace {original.trace:06d}.", outcome)


def _combine(operation: str, lead: str, outcome: Outcome) -> Outcome:
    return Outcome(operation, outcome.status, f"{lead} {outcome.message}", txn=outcome.txn, steps=outcome.steps,
                   details=dict(outcome.details))


def fix_duplicate(profile: Profile, request: DuplicateFixRequest, operator: Operator) -> Gen:
    txn = yield Journal("get", (request.txn_id,))
    if txn is None or txn.kind not in ("sale", "correction"):
        raise EngineError(f"no sale with id {request.txn_id} on this terminal", code="not_found")
    groups = yield Journal("suspected_duplicates", (), {"window_seconds": profile.duplicate_window_seconds})
    if not any(t.id == txn.id for group in groups for t in group):
        raise EngineError(f"sale {txn.id} (trace {txn.trace:06d}) is not a suspected duplicate", code="not_duplicate")
    if txn.batch_state == "open":
        outcome = yield from void(profile, VoidRequest(txn.trace), operator)
        return _combine("duplicates", f"Duplicate trace {txn.trace:06d}: batch open, voiding it.", outcome)
    outcome = yield from refund(profile, RefundRequest(trace=txn.trace, confirm_repeat=True), operator)
    return _combine("duplicates", f"Duplicate trace {txn.trace:06d}: batch settled, refunding it in full.", outcome)
