"""Fixing mistakes: wrong amount (S1 over-, S3 undercharge) and duplicate charges (S2).

Each fix picks the right tool from the batch state and says which and why; every step is its own
journaled transaction linked into the original's chain.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.engine.common import Gen, flush_reversals, connect
from agent.engine.effects import EngineError, Outcome
from agent.engine.operations import (Operator, RefundRequest, SaleRequest, VoidRequest, refund, sale, sale_by_trace,
                                     void, _money)
from agent.engine.requests import Profile
from agent.engine.port import ask
from agent.engine.texts import say


@dataclass(frozen=True)
class CorrectRequest:
    trace: int
    right_amount: int
    method: str = "auto"  # auto | refund (overcharge) | resale (void + full re-sale while open)
    test_card: str | None = None


@dataclass(frozen=True)
class DuplicateFixRequest:
    txn_id: int


def _resolve_uncertain(profile: Profile, original) -> Gen:
    """Never act on an original whose outcome is unknown: resolve it first (S3)."""
    if original.state not in ("sending", "in_doubt"):
        return original
    yield from connect(profile)
    if original.state == "sending":
        yield ask.fail(original.id, reason="98", error="no outcome recorded; reversing")
    yield from flush_reversals(profile)
    resolved = yield ask.get(original.id)
    if resolved.state in ("sending", "in_doubt"):
        raise EngineError(say(profile.language, "still_uncertain", trace=f"{original.trace:06d}"),
                          code="original_uncertain", txn_id=original.id)
    return resolved


def correct(profile: Profile, request: CorrectRequest, operator: Operator) -> Gen:
    language = profile.language
    original = yield from sale_by_trace(profile, request.trace)
    original = yield from _resolve_uncertain(profile, original)
    if original.state in ("reversed", "declined", "voided"):
        raise EngineError(say(language, "not_correctable", trace=f"{original.trace:06d}", state=original.state,
                              amount=_money(profile, request.right_amount)), code="not_correctable",
                          txn_id=original.id)
    charged = yield ask.refundable_amount(original.id)  # what the card stands charged now
    right = request.right_amount
    chain = original.chain_id or original.id
    open_batch = original.batch_state == "open"
    if right == charged:
        return Outcome("correct", "done", say(language, "nothing_to_correct", trace=f"{original.trace:06d}",
                                              amount=_money(profile, charged)), txn=original)
    overcharge = right < charged
    by_refund = overcharge and (request.method == "refund" or not open_batch
                                or original.state == "refunded_partially")
    if by_refund:
        difference = charged - right
        why = say(language, "why_settled" if not open_batch else
                  "why_partly_refunded" if original.state == "refunded_partially" else "why_asked")
        outcome = yield from refund(profile, RefundRequest(trace=original.trace, amount=difference,
                                                           confirm_repeat=True), operator)
        return _combine("correct", say(language, "overcharge_refund", amount=_money(profile, difference),
                                       why=why), outcome)
    if overcharge or request.method == "resale":
        if not open_batch:
            raise EngineError(say(language, "use_refund_method"), code="batch_settled")
        voided = yield from void(profile, VoidRequest(original.trace), operator)
        if voided.status != "approved":
            return _combine("correct", say(language, "void_failed_first"), voided)
        resale = yield from sale(profile, SaleRequest(right, test_card=request.test_card, confirm_duplicate=True,
                                                      confirm_unusual=True, kind="correction",
                                                      original_id=original.id, chain_id=chain), operator)
        amounts = {"original": _money(profile, original.amount), "right": _money(profile, right)}
        lead = say(language, "void_then_resale" if resale.status == "approved" else "resale_failed", **amounts)
        return Outcome("correct", resale.status, f"{lead} {resale.message}", txn=resale.txn,
                       steps=voided.steps + resale.steps, details={"original_id": original.id, "method": "resale"})
    difference = right - charged
    outcome = yield from sale(profile, SaleRequest(difference, test_card=request.test_card, confirm_duplicate=True,
                                                   confirm_unusual=True, kind="correction",
                                                   original_id=original.id, chain_id=chain), operator)
    return _combine("correct", say(language, "undercharge", amount=_money(profile, difference),
                                   trace=f"{original.trace:06d}"), outcome)


def _combine(operation: str, lead: str, outcome: Outcome) -> Outcome:
    return Outcome(operation, outcome.status, f"{lead} {outcome.message}", txn=outcome.txn, steps=outcome.steps,
                   details=dict(outcome.details))


def fix_duplicate(profile: Profile, request: DuplicateFixRequest, operator: Operator) -> Gen:
    txn = yield ask.get(request.txn_id)
    if txn is None or txn.kind not in ("sale", "correction"):
        raise EngineError(say(profile.language, "no_sale_id", id=request.txn_id), code="not_found")
    groups = yield ask.suspected_duplicates(window_seconds=profile.duplicate_window_seconds)
    if not any(t.id == txn.id for group in groups for t in group):
        raise EngineError(say(profile.language, "not_duplicate", id=txn.id, trace=f"{txn.trace:06d}"),
                          code="not_duplicate")
    if txn.batch_state == "open":
        outcome = yield from void(profile, VoidRequest(txn.trace), operator)
        return _combine("duplicates", say(profile.language, "dup_void", trace=f"{txn.trace:06d}"), outcome)
    outcome = yield from refund(profile, RefundRequest(trace=txn.trace, confirm_repeat=True), operator)
    return _combine("duplicates", say(profile.language, "dup_refund", trace=f"{txn.trace:06d}"), outcome)
