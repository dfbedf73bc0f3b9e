"""Pre-authorization (预授权): hold, release, complete, and void the completion — sans-IO plans.

Each has the sale's guarantees (refuse early with the reason and the way out, get ready with reversals
first, journal the intent, send, journal the outcome; no valid answer → reversal).  The rules
(domain §10, configurable in `[preauth]`): a completion may exceed its pre-auth by at most
`tolerance_percent`; one completion per pre-auth; none after `validity_days`; a pre-auth void only
before completion; a completion void only in the open batch (after that, a refund of the completion).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.engine.amount_guards import check_amount
from agent.engine.common import Gen, begin, with_card, connect, ensure_ready, flush_reversals, send_financial
from agent.engine.effects import EngineError, Outcome
from agent.engine.port import ask
from agent.engine.purchases import Operator, newest_by_trace, when_text
from agent.engine.requests import CardData, Profile, preauth_request, reference_request
from agent.engine.responses import describe
from agent.engine.texts import say
from agent.iso8583 import Message
from agent.journal.records import Txn
from agent.journal.states import LIVE_STATES, BatchState, TxnState


@dataclass(frozen=True)
class PreauthRequest:
    amount: int
    test_card: str | None = None
    confirm_duplicate: bool = False
    confirm_unusual: bool = False
    client_request_id: str | None = None


@dataclass(frozen=True)
class HoldRef:
    """A pre-auth by its trace (void / release)."""

    trace: int


@dataclass(frozen=True)
class CompleteRequest:
    trace: int  # the pre-auth's trace
    amount: int
    advice: bool = False  # offline: journal it now, send the 0220 advice when the bank can be reached


@dataclass(frozen=True)
class CompletionRef:
    """A completion by its trace (completion void)."""

    trace: int


def validity_seconds(profile: Profile) -> int:
    return profile.preauth_validity_days * 86400


def ceiling(profile: Profile, held: int) -> int:
    """The largest completion a pre-auth of `held` allows (integer minor units, rounded down)."""
    return held * (100 + profile.preauth_tolerance_percent) // 100


# ---------------------------------------------------------------- pre-auth

def preauth(profile: Profile, request: PreauthRequest, operator: Operator) -> Gen:
    question = yield from check_amount(profile, "preauth", request.amount, confirmed=request.confirm_unusual)
    if question is not None:
        return question
    yield from ensure_ready(profile)
    return (yield from with_card(request.amount, request.test_card,
                                 lambda card: _preauth_with_card(profile, request, operator, card)))


def _preauth_with_card(profile: Profile, request: PreauthRequest, operator: Operator, card: CardData) -> Gen:
    language = profile.language
    if not request.confirm_duplicate and profile.duplicate_window_seconds > 0:
        fingerprint = yield from ask.fingerprint(card.pan)
        earlier = yield from ask.duplicates_of(fingerprint, request.amount, window_seconds=profile.duplicate_window_seconds, kinds=("preauth",))
        earlier = [t for t in earlier if t.state in LIVE_STATES]
        if earlier:
            last = earlier[-1]
            return Outcome("preauth", "needs_confirmation",
                           say(language, "preauth_duplicate", amount=profile.money(request.amount),
                               trace=f"{last.trace:06d}"),
                           txn=last, details={"guard": "duplicate", "earlier": [t.id for t in earlier]})

    def build(trace: int, batch: int) -> Message:
        return preauth_request(profile, trace=trace, batch=batch, amount=request.amount, card=card)

    begun = yield from begin(build, lambda trace, batch, message: ask.begin_request(
        "preauth", trace=trace, batch=batch, message=message, amount=request.amount, currency=profile.currency,
        pan=card.pan, entry_mode=card.entry_mode, operator=operator.name, role=operator.role,
        client_request_id=request.client_request_id))
    txn, message = begun.txn, begun.message
    updated, status, text = yield from send_financial(profile, txn, message, operation="preauth",
                                                      chip=card.field55 is not None)
    if status == "approved":
        text = say(language, "preauth_approved", amount=profile.money(request.amount), card=updated.pan_masked,
                   trace=f"{updated.trace:06d}", auth=updated.auth_code or "-", days=profile.preauth_validity_days)
    elif status == "declined":
        text = say(language, "preauth_declined", reason=text)
    return Outcome("preauth", status, text, txn=updated, steps=(updated,))


# ---------------------------------------------------------------- finding the original

def find_by_trace(profile: Profile, trace: int, kind: str) -> Gen:
    """The newest `kind` ("preauth" or "completion") with this trace, or a refusal naming it."""
    found = yield from newest_by_trace(trace, (kind,))
    if found is None:
        key = "no_preauth_trace" if kind == "preauth" else "no_completion_trace"
        raise EngineError(say(profile.language, key, trace=f"{trace:06d}"), code="not_found")
    return found


def open_hold(profile: Profile, preauth_txn: Txn, *, completing: bool) -> Gen:
    """The pre-auth's hold if it is still open, else a refusal saying what happened and what to do."""
    language, trace = profile.language, f"{preauth_txn.trace:06d}"
    state = preauth_txn.state
    if state in (TxnState.SENDING, TxnState.IN_DOUBT):
        raise EngineError(say(language, "preauth_uncertain", trace=trace), code="original_uncertain",
                          txn_id=preauth_txn.id)
    if state == TxnState.VOIDED:
        raise EngineError(say(language, "preauth_released", trace=trace), code="not_open", txn_id=preauth_txn.id)
    if state != TxnState.APPROVED:
        raise EngineError(say(language, "preauth_not_held", trace=trace, state=state), code="not_open",
                          txn_id=preauth_txn.id)
    hold = yield from ask.hold(preauth_txn.id, validity_seconds=validity_seconds(profile))
    if hold.completion is not None and hold.completion.state in (TxnState.SENDING, TxnState.IN_DOUBT):
        doubt = hold.completion  # no final answer: its reversal is queued, so it may yet leave the hold open
        raise EngineError(say(language, "preauth_completion_uncertain", trace=trace,
                              completion=f"{doubt.trace:06d}", amount=profile.money(doubt.amount)),
                          code="original_uncertain", txn_id=preauth_txn.id)
    if hold.completion is not None:
        done = hold.completion
        what = say(language, "what_correct" if completing else "what_void_completion",
                   completion=f"{done.trace:06d}")
        raise EngineError(say(language, "preauth_completed", trace=trace, when=when_text(done.created_at),
                              completion=f"{done.trace:06d}", amount=profile.money(done.amount), what=what),
                          code="already_completed", txn_id=preauth_txn.id)
    if completing and hold.expired:
        raise EngineError(say(language, "preauth_expired", trace=trace, when=when_text(preauth_txn.created_at),
                              days=profile.preauth_validity_days), code="expired", txn_id=preauth_txn.id)
    return hold


# ---------------------------------------------------------------- pre-auth void / release

def preauth_void(profile: Profile, request: HoldRef, operator: Operator) -> Gen:
    original = yield from find_by_trace(profile, request.trace, "preauth")
    yield from open_hold(profile, original, completing=False)
    yield from ensure_ready(profile)
    outcome = yield from _send_reference(profile, "preauth_void", original, original.amount, operator)
    if outcome.status == "approved":
        outcome = _with_text(outcome, say(profile.language, "preauth_void_approved",
                                          amount=profile.money(original.amount), card=original.pan_masked,
                                          trace=f"{original.trace:06d}"))
    return outcome


def release(profile: Profile, request: HoldRef, operator: Operator) -> Gen:
    """A forgotten hold: voiding the pre-auth releases the amount on the cardholder's card."""
    outcome = yield from preauth_void(profile, request, operator)
    lead = say(profile.language, "release_lead", trace=f"{request.trace:06d}")
    return _with_text(outcome, f"{lead} {outcome.message}")


# ---------------------------------------------------------------- completion

def complete(profile: Profile, request: CompleteRequest, operator: Operator) -> Gen:
    original = yield from find_by_trace(profile, request.trace, "preauth")
    return (yield from complete_preauth(profile, original, request.amount, operator, advice=request.advice))


def complete_preauth(profile: Profile, original: Txn, amount: int, operator: Operator, *,
                     advice: bool = False) -> Gen:
    yield from open_hold(profile, original, completing=True)
    most = ceiling(profile, original.amount)
    if amount > most:
        raise EngineError(say(profile.language, "completion_too_large", amount=profile.money(amount),
                              percent=profile.preauth_tolerance_percent, held=profile.money(original.amount),
                              ceiling=profile.money(most)), code="amount_too_large", txn_id=original.id)
    if advice:
        return (yield from _complete_by_advice(profile, original, amount, operator))
    yield from ensure_ready(profile)
    outcome = yield from _send_reference(profile, "completion", original, amount, operator)
    if outcome.status == "approved":
        outcome = _with_text(outcome, say(profile.language, "completion_approved", amount=profile.money(amount),
                                          card=original.pan_masked, trace=f"{original.trace:06d}",
                                          held=profile.money(original.amount)))
    return outcome


def _complete_by_advice(profile: Profile, original: Txn, amount: int, operator: Operator) -> Gen:
    """Offline completion: journaled as a completion owing an advice (no reversal), then delivered now if
    the bank can be reached, else before the next online message and before the settlement."""
    language = profile.language

    def build(trace: int, batch: int) -> Message:
        return reference_request(profile, "completion_advice", trace=trace, batch=batch, amount=amount,
                                 original=original)

    txn = (yield from begin(build, lambda trace, batch, message: ask.begin_request(
        "completion", trace=trace, batch=batch, message=message, amount=amount, currency=original.currency,
        pan=None, entry_mode="012", operator=operator.name, role=operator.role, original_id=original.id,
        purchase_id=original.purchase_id or original.id, advice=True))).txn
    try:
        yield from connect(profile)
        yield from flush_reversals(profile)  # delivers the advices too, this one included
    except EngineError:
        pass  # offline or not answered: it stays queued
    updated = yield from ask.get(txn.id)
    amounts = {"amount": profile.money(amount), "trace": f"{original.trace:06d}"}
    if updated.state == TxnState.APPROVED:
        text = say(language, "completion_approved", card=original.pan_masked, held=profile.money(original.amount),
                   **amounts)
        return Outcome("completion", "approved", text, txn=updated, steps=(updated,),
                       details={"original_id": original.id, "advice": True})
    if updated.state == TxnState.DECLINED:
        text = say(language, "advice_declined", trace=f"{updated.trace:06d}",
                   reason=describe(updated.response_code, language))
        return Outcome("completion", "declined", text, txn=updated, steps=(updated,),
                       details={"original_id": original.id, "advice": True})
    return Outcome("completion", "done", say(language, "advice_queued", advice=f"{updated.trace:06d}", **amounts),
                   txn=updated, steps=(updated,),
                   details={"original_id": original.id, "advice": True, "queued": True})


# ---------------------------------------------------------------- completion void

def completion_void(profile: Profile, request: CompletionRef, operator: Operator) -> Gen:
    language = profile.language
    original = yield from find_by_trace(profile, request.trace, "completion")
    trace = f"{original.trace:06d}"
    if original.state in (TxnState.SENDING, TxnState.IN_DOUBT):
        raise EngineError(say(language, "original_uncertain", trace=trace), code="original_uncertain",
                          txn_id=original.id)
    if original.state != TxnState.APPROVED:
        raise EngineError(say(language, "completion_not_voidable", trace=trace, state=original.state),
                          code="not_voidable", txn_id=original.id)
    if original.batch_state != BatchState.OPEN:
        settled = yield from ask.get_batch(original.batch)
        when = when_text(settled.settled_at) if settled and settled.settled_at else "earlier"
        raise EngineError(say(language, "completion_settled", trace=trace, batch=f"{original.batch:06d}", when=when),
                          code="batch_settled", txn_id=original.id)
    yield from ensure_ready(profile)
    outcome = yield from _send_reference(profile, "completion_void", original, original.amount, operator)
    if outcome.status == "approved":
        preauth_txn = yield from ask.get(original.original_id)
        outcome = _with_text(outcome, say(language, "completion_void_approved", amount=profile.money(original.amount),
                                          trace=trace, held=profile.money(preauth_txn.amount)))
    return outcome


# ---------------------------------------------------------------- shared

def _send_reference(profile: Profile, kind: str, original: Txn, amount: int, operator: Operator) -> Gen:
    """Journal and send a request that names its original (no card): pre-auth void, completion, completion void."""
    def build(trace: int, batch: int) -> Message:
        return reference_request(profile, kind, trace=trace, batch=batch, amount=amount, original=original)

    begun = yield from begin(build, lambda trace, batch, message: ask.begin_request(
        kind, trace=trace, batch=batch, message=message, amount=amount, currency=original.currency, pan=None,
        entry_mode="012", operator=operator.name, role=operator.role, original_id=original.id,
        purchase_id=original.purchase_id or original.id))
    txn, message = begun.txn, begun.message
    updated, status, text = yield from send_financial(profile, txn, message, operation=kind)
    return Outcome(kind, status, text, txn=updated, steps=(updated,), details={"original_id": original.id})


def _with_text(outcome: Outcome, text: str) -> Outcome:
    return Outcome(outcome.operation, outcome.status, text, txn=outcome.txn, steps=outcome.steps,
                   details=dict(outcome.details))


def list_holds(profile: Profile) -> Gen:
    """Open holds by age (oldest first), with what is still blocked on each cardholder's card."""
    holds = yield from ask.open_holds(validity_seconds=validity_seconds(profile))
    blocked = sum(h.blocked for h in holds)
    text = say(profile.language, "holds_count", count=len(holds), blocked=profile.money(blocked)) if holds else \
        say(profile.language, "holds_none")
    return Outcome("preauth_list", "done", text,
                   details={"holds": [h.as_dict() for h in holds], "blocked": blocked})
