"""Fixing mistakes made with pre-auths: a completion for the wrong amount, a stay held twice.

The engine picks the fix and says why, like `fixes.correct` for sales, and runs it as a fix
(engine/fixrun.py: plan journaled first, open and resumable when a step fails, recovered after a kill):

- batch open, the right amount within the pre-auth's tolerance and the pre-auth not expired →
  completion void + new completion for the right amount;
- otherwise, completion too large → refund of the difference against the completion;
  too small → a sale of the difference linked to the completion (the pre-auth's card, read first);
- a duplicate hold → a pre-auth void of the extra one.

`engine/routes.py` sends a completion's or a pre-auth's trace or id here, so `posagent correct` and
`duplicates --fix` cover every family.
"""

from __future__ import annotations

import dataclasses

from agent.engine import fixes
from agent.engine.fixrun import resume_command, run_fix, run_step
from agent.engine.common import Gen
from agent.engine.effects import EngineError, Outcome
from agent.engine.port import ask
from agent.engine.purchases import Operator
from agent.engine.preauth.plans import (CompletionRef, HoldRef, ceiling, complete_preauth, completion_void,
                                       preauth_void, validity_seconds)
from agent.engine.requests import CardData, Profile
from agent.engine.texts import say
from agent.journal.records import Txn
from agent.journal.states import BatchState, TxnState


def _combine(operation: str, lead: str, outcome: Outcome) -> Outcome:
    """The outcome of the step that ran, with what the fix chose in front of its message."""
    return Outcome(operation, outcome.status, f"{lead} {outcome.message}", txn=outcome.txn, steps=outcome.steps,
                   details=dict(outcome.details))


def correct_completion(profile: Profile, completion: Txn, request: fixes.CorrectRequest, operator: Operator) -> Gen:
    """A completion for the wrong amount, fixed as a fix (engine/fixrun.py) like a sale's correction: the
    plan journaled before the first irreversible step, and a fix that stops halfway left open with what was
    done, what is still owed and `posagent correct TRACE --resume`."""
    language = profile.language
    trace = f"{completion.trace:06d}"
    fix = yield from ask.open_fix_of(completion.id)
    if fix is not None:  # a fix that stopped halfway: finish it rather than start another
        if request.right_amount is not None and fix.target is not None and request.right_amount != fix.target:
            raise EngineError(say(language, "fix_other_target", trace=trace, target=profile.money(fix.target),
                                  command=resume_command(fix.kind, completion.id, completion.trace), id=fix.id),
                              code="fix_open", txn_id=completion.id)
        return (yield from run_fix(profile, operator, operation="correct", original=completion, kind=fix.kind,
                                   fix=fix, test_card=request.test_card, step=completion_step))
    if request.resume or request.right_amount is None:
        raise EngineError(say(language, "fix_none", trace=trace), code="not_found", txn_id=completion.id)
    if request.right_amount <= 0:
        raise EngineError(say(language, "right_amount_zero", trace=trace), code="usage", txn_id=completion.id)
    completion = yield from fixes.resolve_uncertain(profile, completion)
    if completion.state == TxnState.ADVICE_PENDING:  # the bank has not heard of it yet: nothing to correct against
        raise EngineError(say(language, "still_uncertain", trace=trace), code="original_uncertain",
                          txn_id=completion.id)
    if completion.state == TxnState.VOIDED:  # completed again since (an earlier fix): the stay is charged there
        assert completion.original_id is not None  # a completion names its pre-auth
        hold = yield from ask.hold(completion.original_id, validity_seconds=validity_seconds(profile))
        if hold.completion is not None and hold.completion.id > completion.id:
            return (yield from correct_completion(profile, hold.completion,
                                                  dataclasses.replace(request, trace=hold.completion.trace),
                                                  operator))
    earlier, charged = yield from fixes.purchase_standing(profile, completion)  # a linked sale of an earlier fix
    if completion.state in (TxnState.REVERSED, TxnState.DECLINED, TxnState.VOIDED) and not earlier:
        raise EngineError(say(language, "not_correctable", trace=trace, state=completion.state,
                              amount=profile.money(request.right_amount)), code="not_correctable",
                          txn_id=completion.id)
    right = request.right_amount
    if right == charged:
        return Outcome("correct", "done", say(language, "nothing_to_correct", trace=trace,
                                              amount=profile.money(charged)), txn=completion)
    if earlier:  # charged in parts: the difference from the parts, never a completion void that leaves them
        return (yield from fixes.correct_again(profile, request, operator, completion, earlier, charged))
    plan, lead, method = yield from _plan(profile, completion, request, charged, right)
    outcome = yield from run_fix(profile, operator, operation="correct", original=completion, kind="completion_fix",
                                 plan=plan, target=right, test_card=request.test_card, lead=lead,
                                 step=completion_step)
    return Outcome(outcome.operation, outcome.status, outcome.message, txn=outcome.txn, steps=outcome.steps,
                   details={**outcome.details, "method": method})


def _plan(profile: Profile, completion: Txn, request: fixes.CorrectRequest, charged: int, right: int) -> Gen:
    """The fix's steps, what it says it does, and its method name.  Completing again is chosen only when the
    pre-auth can take it (open batch, within the tolerance, not expired): the check that fails for ordinary
    reasons goes before the completion void that cannot be undone."""
    language = profile.language
    assert completion.original_id is not None  # a completion names its pre-auth
    preauth_txn = yield from ask.get(completion.original_id)
    hold = yield from ask.hold(preauth_txn.id, validity_seconds=validity_seconds(profile))
    open_batch = completion.batch_state == BatchState.OPEN and completion.state == TxnState.APPROVED
    within = right <= ceiling(profile, preauth_txn.amount)
    if open_batch and within and not hold.expired and request.method != "refund":
        amounts = {"wrong": profile.money(completion.amount), "right": profile.money(right)}
        return ([{"op": "completion_void", "amount": completion.amount}, {"op": "completion", "amount": right}],
                say(language, "fix_recomplete", **amounts), "recomplete")
    why = say(language, "why_fix_settled" if completion.batch_state != BatchState.OPEN else
              "why_fix_refunded" if completion.state != TxnState.APPROVED else
              "why_fix_expired" if hold.expired else "why_fix_tolerance" if not within else "why_asked")
    if right < charged:
        difference = charged - right
        return ([{"op": "refund", "amount": difference}],
                say(language, "fix_refund_difference", amount=profile.money(difference), why=why), "refund")
    difference = right - charged
    return ([{"op": "sale", "amount": difference}],
            say(language, "fix_linked_sale", amount=profile.money(difference), why=why,
                trace=f"{completion.trace:06d}"), "linked_sale")


def completion_step(profile: Profile, operator: Operator, op: str, amount: int, original: Txn,
                    card: CardData | None) -> Gen:
    """One step of a completion's fix: void the wrong completion, complete its pre-auth again; a refund of
    the difference or a linked sale run as for a sale's fix."""
    if op == "completion_void":
        return (yield from completion_void(profile, CompletionRef(original.trace), operator))
    if op == "completion":
        assert original.original_id is not None  # a completion names its pre-auth
        preauth_txn = yield from ask.get(original.original_id)
        return (yield from complete_preauth(profile, preauth_txn, amount, operator))
    return (yield from run_step(profile, operator, op, amount, original, card))


def fix_duplicate_hold(profile: Profile, txn: Txn, operator: Operator) -> Gen:
    groups = yield from ask.suspected_duplicate_holds(window_seconds=profile.duplicate_window_seconds)
    if not any(t.id == txn.id for group in groups for t in group):
        raise EngineError(say(profile.language, "hold_not_duplicate", id=txn.id, trace=f"{txn.trace:06d}"),
                          code="not_duplicate")
    outcome = yield from preauth_void(profile, HoldRef(txn.trace), operator)
    return _combine("duplicates", say(profile.language, "dup_hold_void", trace=f"{txn.trace:06d}"), outcome)
