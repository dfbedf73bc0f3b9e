"""Fixing mistakes: wrong amount (S1 over-, S3 undercharge) and duplicate charges (S2).

Each fix picks the right tool from the batch state and says which and why, then runs as a fix
(engine/fixrun.py): the whole plan journaled before the first irreversible step, every step its own
journaled transaction linked to the original, and a fix that stops halfway left open and resumable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.engine.fixrun import resume_command, run_fix
from agent.engine.common import Gen, flush_reversals, connect
from agent.engine.effects import EngineError, Outcome
from agent.engine.purchases import Operator, purchase_parts, sale_by_trace
from agent.engine.requests import Profile
from agent.engine.port import ask
from agent.engine.texts import say
from agent.journal.records import Txn
from agent.journal.states import BatchState, TxnState

if TYPE_CHECKING:
    from agent.journal.fixes import FixStep


@dataclass(frozen=True)
class CorrectRequest:
    trace: int
    right_amount: int | None  # None: resume the open fix of this sale
    method: str = "auto"  # auto | refund (overcharge) | resale (void + full re-sale while open)
    test_card: str | None = None
    resume: bool = False


@dataclass(frozen=True)
class DuplicateFixRequest:
    txn_id: int


def resolve_uncertain(profile: Profile, original: Txn) -> Gen:
    """Never act on an original whose outcome is unknown: resolve it first (S3)."""
    if original.state not in (TxnState.SENDING, TxnState.IN_DOUBT):
        return original
    yield from connect(profile)
    if original.state == TxnState.SENDING:
        yield from ask.fail(original.id, reason="98", error="no outcome recorded; reversing")
    yield from flush_reversals(profile)
    resolved = yield from ask.get(original.id)
    if resolved.state in (TxnState.SENDING, TxnState.IN_DOUBT):
        raise EngineError(say(profile.language, "still_uncertain", trace=f"{original.trace:06d}"),
                          code="original_uncertain", txn_id=original.id)
    return resolved


def correct(profile: Profile, request: CorrectRequest, operator: Operator) -> Gen:
    language = profile.language
    original = yield from sale_by_trace(profile, request.trace)
    fix = yield from ask.open_fix_of(original.id)
    if fix is not None:  # a fix that stopped halfway: finish it rather than start another
        if request.right_amount is not None and fix.target is not None and request.right_amount != fix.target:
            raise EngineError(say(language, "fix_other_target", trace=f"{original.trace:06d}",
                                  target=profile.money(fix.target), id=fix.id,
                                  command=resume_command(fix.kind, original.id, original.trace)),
                              code="fix_open", txn_id=original.id)
        return (yield from run_fix(profile, operator, operation="correct", original=original, kind=fix.kind,
                                   fix=fix, test_card=request.test_card))
    if request.resume or request.right_amount is None:
        raise EngineError(say(language, "fix_none", trace=f"{original.trace:06d}"), code="not_found",
                          txn_id=original.id)
    if request.right_amount <= 0:
        raise EngineError(say(language, "right_amount_zero", trace=f"{original.trace:06d}"), code="usage",
                          txn_id=original.id)
    original = yield from resolve_uncertain(profile, original)
    earlier, charged = yield from purchase_standing(profile, original)
    if original.state in (TxnState.REVERSED, TxnState.DECLINED, TxnState.VOIDED) and not earlier:
        raise EngineError(say(language, "not_correctable", trace=f"{original.trace:06d}", state=original.state,
                              amount=profile.money(request.right_amount)), code="not_correctable",
                          txn_id=original.id)
    right = request.right_amount
    open_batch = original.batch_state == BatchState.OPEN
    if right == charged:
        return Outcome("correct", "done", say(language, "nothing_to_correct", trace=f"{original.trace:06d}",
                                              amount=profile.money(charged)), txn=original)
    if earlier:
        return (yield from correct_again(profile, request, operator, original, earlier, charged))
    overcharge = right < charged
    by_refund = overcharge and (request.method == "refund" or not open_batch
                                or original.state == TxnState.REFUNDED_PARTIALLY)
    done_lead = None
    plan: list[FixStep]
    if by_refund:
        difference = charged - right
        why = say(language, "why_settled" if not open_batch else
                  "why_partly_refunded" if original.state == TxnState.REFUNDED_PARTIALLY else "why_asked")
        plan, lead = [{"op": "refund", "amount": difference}], say(language, "overcharge_refund",
                                                                   amount=profile.money(difference), why=why)
    elif overcharge or request.method == "resale":
        if not open_batch:
            raise EngineError(say(language, "use_refund_method"), code="batch_settled")
        if original.state != TxnState.APPROVED:
            raise EngineError(say(language, "refunded_partially", trace=f"{original.trace:06d}"),
                              code="not_voidable", txn_id=original.id)
        plan = [{"op": "void", "amount": original.amount}, {"op": "sale", "amount": right}]
        amounts = {"original": profile.money(original.amount), "right": profile.money(right)}
        lead, done_lead = say(language, "void_then_resale", **amounts), say(language, "void_then_resale_done", **amounts)
    else:
        difference = right - charged
        plan = [{"op": "sale", "amount": difference}]
        lead = say(language, "undercharge", amount=profile.money(difference), trace=f"{original.trace:06d}")
    outcome = yield from run_fix(profile, operator, operation="correct", original=original, kind="correction",
                                 plan=plan, target=right, test_card=request.test_card, lead=lead,
                                 done_lead=done_lead)
    return Outcome(outcome.operation, outcome.status, outcome.message, txn=outcome.txn, steps=outcome.steps,
                   details={**outcome.details, "method": "refund" if by_refund else
                            "resale" if plan[0]["op"] == "void" else "linked_sale"})


def purchase_standing(profile: Profile, original: Txn) -> Gen:
    """(earlier parts, what the customer stands charged for this purchase now): the parts are the sales
    earlier fixes charged for it that still charge (a linked sale of a difference, a void's re-sale; one
    whose outcome is unknown is resolved first, as the original is); the amount is the original's and
    theirs, less what was refunded or is being refunded.  A part fixed on its own trace (a linked sale
    voided and sold again) has parts of its own: they are the purchase's too, oldest first."""
    parts = []
    for part in (yield from purchase_parts(original)):
        part = yield from resolve_uncertain(profile, part)
        if part.state in (TxnState.APPROVED, TxnState.REFUNDED_PARTIALLY):
            parts.append(part)
    charged = 0
    for part in (original, *parts):
        charged += yield from ask.refundable_amount(part.id)
    return parts, charged


def correct_again(profile: Profile, request: CorrectRequest, operator: Operator, original: Txn, earlier: list[Txn],
                   charged: int) -> Gen:
    """A purchase fixed before is charged in parts (the sale and the fixes' sales): too little → a sale of the
    difference linked to the original, as the first time; too much → the difference refunded from the
    newest part back (each refund names the part it returns), never a void of one part that would leave
    the others charged."""
    language = profile.language
    right = request.right_amount
    assert right is not None  # a correction to an amount: its caller checked
    if request.method == "resale":
        raise EngineError(say(language, "resale_after_correction", trace=f"{original.trace:06d}"),
                          code="usage", txn_id=original.id)
    plan: list[FixStep]
    if right > charged:
        difference = right - charged
        plan = [{"op": "sale", "amount": difference}]
        lead = say(language, "undercharge", amount=profile.money(difference), trace=f"{original.trace:06d}")
        method = "linked_sale"
    else:
        difference, plan = charged - right, []
        left = difference
        for part in reversed((original, *earlier)):
            take = min(left, (yield from ask.refundable_amount(part.id)))
            if take:
                plan.append({"op": "refund", "amount": take, "of": part.id})
                left -= take
        why = say(language, "why_corrected", count=1 + len(earlier))
        lead = say(language, "overcharge_refund", amount=profile.money(difference), why=why)
        method = "refund"
    outcome = yield from run_fix(profile, operator, operation="correct", original=original, kind="correction",
                                 plan=plan, target=right, test_card=request.test_card, lead=lead)
    return Outcome(outcome.operation, outcome.status, outcome.message, txn=outcome.txn, steps=outcome.steps,
                   details={**outcome.details, "method": method})


def fix_duplicate(profile: Profile, request: DuplicateFixRequest, operator: Operator) -> Gen:
    txn = yield from ask.get(request.txn_id)
    if txn is None or txn.kind not in ("sale", "correction"):
        raise EngineError(say(profile.language, "no_sale_id", id=request.txn_id), code="not_found")
    fix = yield from ask.open_fix_of(txn.id)
    if fix is not None:  # a repair that stopped halfway: finish it
        return (yield from run_fix(profile, operator, operation="duplicates", original=txn, kind=fix.kind,
                                   fix=fix))
    if txn.state in (TxnState.SENDING, TxnState.IN_DOUBT):  # never repair on top of an unknown outcome
        raise EngineError(say(profile.language, "original_uncertain", trace=f"{txn.trace:06d}"),
                          code="original_uncertain", txn_id=txn.id)
    groups = yield from ask.suspected_duplicates(window_seconds=profile.duplicate_window_seconds)
    if not any(t.id == txn.id for group in groups for t in group):
        raise EngineError(say(profile.language, "not_duplicate", id=txn.id, trace=f"{txn.trace:06d}"),
                          code="not_duplicate")
    plan: list[FixStep]
    if txn.batch_state == BatchState.OPEN and txn.state == TxnState.APPROVED:
        plan, lead = [{"op": "void", "amount": txn.amount}], say(profile.language, "dup_void", trace=f"{txn.trace:06d}")
    else:
        refundable = yield from ask.refundable_amount(txn.id)
        plan = [{"op": "refund", "amount": refundable}]
        lead = say(profile.language, "dup_refund", trace=f"{txn.trace:06d}")
    return (yield from run_fix(profile, operator, operation="duplicates", original=txn, kind="duplicate_fix",
                               plan=plan, target=txn.amount - plan[0]["amount"] if plan[0]["op"] == "refund"
                               else 0, lead=lead))
