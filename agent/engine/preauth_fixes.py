"""Fixing mistakes made with pre-auths: a completion for the wrong amount, a stay held twice.

The engine picks the fix and says why, like `fixes.correct` for sales (whose plans it reuses for the
refund and the linked sale):

- completion too large: batch open → completion void + new completion for the right amount;
  settled (or partly refunded) → refund of the difference against the completion;
- completion too small: batch open and the right amount within the pre-auth's tolerance → completion
  void + new completion; otherwise → a sale of the difference linked to the completion (card present);
- a duplicate hold → a pre-auth void of the extra one.

`correct_any` / `fix_duplicate_any` send a sale's trace or id to the sale fixes and a completion's or
pre-auth's to these, so `posagent correct` and `duplicates --fix` cover both.
"""

from __future__ import annotations

from agent.engine import fixes
from agent.engine.common import Gen
from agent.engine.effects import EngineError, Outcome
from agent.engine.port import ask
from agent.engine.operations import Operator, RefundRequest, SaleRequest, _money, refund, sale
from agent.engine.preauth import (CompletionRef, HoldRef, ceiling, complete_preauth, completion_void,
                                  preauth_void)
from agent.engine.requests import Profile
from agent.engine.texts import say
from agent.journal.states import TxnState


def _combine(operation: str, lead: str, outcome: Outcome) -> Outcome:
    """The outcome of the step that ran, with what the fix chose in front of its message."""
    return Outcome(operation, outcome.status, f"{lead} {outcome.message}", txn=outcome.txn, steps=outcome.steps,
                   details=dict(outcome.details))


def correct_any(profile: Profile, request: fixes.CorrectRequest, operator: Operator) -> Gen:
    """`correct TRACE --amount`: a completion's trace is fixed here, a sale's by `fixes.correct`."""
    found = yield ask.find(trace=request.trace, limit=20)
    newest = max(found, key=lambda t: t.created_at) if found else None
    if newest is not None and newest.kind == "completion":
        return (yield from correct_completion(profile, newest, request, operator))
    return (yield from fixes.correct(profile, request, operator))


def correct_completion(profile: Profile, completion, request: fixes.CorrectRequest, operator: Operator) -> Gen:
    language = profile.language
    trace = f"{completion.trace:06d}"
    completion = yield from fixes._resolve_uncertain(profile, completion)
    if request.right_amount is None:  # `--resume` finishes an open fix; a completion's fix is never left open
        raise EngineError(f"completion {trace} has no open correction to resume: give the right amount with --amount",
                          code="usage", txn_id=completion.id)
    if completion.state in (TxnState.REVERSED, TxnState.DECLINED, TxnState.VOIDED):
        raise EngineError(say(language, "not_correctable", trace=trace, state=completion.state,
                              amount=_money(profile, request.right_amount)), code="not_correctable",
                          txn_id=completion.id)
    charged = yield ask.refundable_amount(completion.id)
    right = request.right_amount
    if right == charged:
        return Outcome("correct", "done", say(language, "nothing_to_correct", trace=trace,
                                              amount=_money(profile, charged)), txn=completion)
    preauth_txn = yield ask.get(completion.original_id)
    open_batch = completion.batch_state == "open" and completion.state == TxnState.APPROVED
    if open_batch and right <= ceiling(profile, preauth_txn.amount) and request.method != "refund":
        return (yield from _recomplete(profile, completion, preauth_txn, right, operator))
    if right < charged:
        difference = charged - right
        outcome = yield from refund(profile, RefundRequest(trace=completion.trace, amount=difference,
                                                           confirm_repeat=True), operator)
        return _combine("correct", say(language, "fix_refund_difference", amount=_money(profile, difference)),
                              outcome)
    difference = right - charged
    why = say(language, "why_fix_settled" if completion.batch_state != "open" else
              "why_fix_refunded" if completion.state != TxnState.APPROVED else "why_fix_tolerance")
    outcome = yield from sale(profile, SaleRequest(difference, test_card=request.test_card, confirm_duplicate=True,
                                                   confirm_unusual=True, kind="correction",
                                                   original_id=completion.id,
                                                   chain_id=completion.chain_id or completion.id), operator)
    return _combine("correct", say(language, "fix_linked_sale", amount=_money(profile, difference), why=why,
                                         trace=trace), outcome)


def _recomplete(profile: Profile, completion, preauth_txn, right: int, operator: Operator) -> Gen:
    language = profile.language
    amounts = {"wrong": _money(profile, completion.amount), "right": _money(profile, right)}
    voided = yield from completion_void(profile, CompletionRef(completion.trace), operator)
    if voided.status != "approved":
        return _combine("correct", say(language, "void_failed_first"), voided)
    preauth_txn = yield ask.get(preauth_txn.id)
    again = yield from complete_preauth(profile, preauth_txn, right, operator)
    lead = say(language, "fix_recomplete" if again.status == "approved" else "fix_recomplete_failed",
               trace=f"{preauth_txn.trace:06d}", **amounts)
    return Outcome("correct", again.status, f"{lead} {again.message}", txn=again.txn,
                   steps=voided.steps + again.steps, details={"original_id": completion.id, "method": "recomplete"})


def fix_duplicate_any(profile: Profile, request: fixes.DuplicateFixRequest, operator: Operator) -> Gen:
    """`duplicates --fix ID`: a pre-auth id releases the extra hold, a sale id goes to `fixes.fix_duplicate`."""
    txn = yield ask.get(request.txn_id)
    if txn is not None and txn.kind == "preauth":
        return (yield from fix_duplicate_hold(profile, txn, operator))
    return (yield from fixes.fix_duplicate(profile, request, operator))


def fix_duplicate_hold(profile: Profile, txn, operator: Operator) -> Gen:
    groups = yield ask.suspected_duplicate_holds(window_seconds=profile.duplicate_window_seconds)
    if not any(t.id == txn.id for group in groups for t in group):
        raise EngineError(say(profile.language, "hold_not_duplicate", id=txn.id, trace=f"{txn.trace:06d}"),
                          code="not_duplicate")
    outcome = yield from preauth_void(profile, HoldRef(txn.trace), operator)
    return _combine("duplicates", say(profile.language, "dup_hold_void", trace=f"{txn.trace:06d}"), outcome)
