"""What every payment family's purchase shares: who asks (`Operator`), finding the original sale, the parts a
fix charged for it, and the two operations that undo one — void (the whole sale, while its batch is open) and
refund (all or part of it, before or after settlement) — the same messages for a card sale, a completion and a
paid payment-code order.  Each is a sans-IO plan in the order every operation follows: refuse early what the
rules forbid (with the reason and the way out), get ready (link, reversals first, keys), journal the intent,
send, journal the outcome.  The card family's sale is `agent.engine.card.sale`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generator

from agent.engine import office
from agent.engine.common import Gen, begin, ensure_ready, send_financial
from agent.engine.effects import EngineError, Outcome
from agent.engine.port import ask
from agent.engine.texts import say
from agent.engine.requests import Profile, local_mmdd, refund_request, void_request
from agent.iso8583 import Message
from agent.journal.records import Txn
from agent.journal.states import LIVE_STATES, BatchState, TxnState
from agent.localtime import MINUTES, local_time


@dataclass(frozen=True)
class Operator:
    name: str = "cashier"
    role: str = "cashier"


@dataclass(frozen=True)
class VoidRequest:
    trace: int


@dataclass(frozen=True)
class RefundRequest:
    trace: int | None = None
    rrn: str | None = None
    date: str | None = None  # MMDD of the original, with rrn
    amount: int | None = None  # None: everything still refundable
    client_request_id: str | None = None
    confirm_repeat: bool = False
    name_other_parts: bool = True  # say which corrections of the sale are charged apart (not inside a fix)
    #: with a back office ([office] url): what a refund by RRN + date of a sale this journal does not hold does
    #: when the office cannot be asked ("refuse" or "supervisor"); None: no back office, such a refund is refused
    office_unreachable: str | None = None



# ---------------------------------------------------------------- void

def void(profile: Profile, request: VoidRequest, operator: Operator) -> Gen:
    batch = yield from ask.open_batch()
    original = yield from sale_by_trace(profile, request.trace)
    if original.state != TxnState.APPROVED:  # what happened to it matters more than where it is
        _require_voidable(profile, original)
    if original.batch != batch.number or original.batch_state != BatchState.OPEN:
        settled = yield from ask.get_batch(original.batch)
        when = when_text(settled.settled_at) if settled and settled.settled_at else "earlier"
        raise EngineError(say(profile.language, "void_settled", trace=f"{request.trace:06d}",
                              batch=f"{original.batch:06d}", when=when), code="batch_settled", txn_id=original.id)
    _require_voidable(profile, original)
    yield from ensure_ready(profile)

    def build(trace: int, batch_no: int) -> Message:
        return void_request(profile, trace=trace, batch=batch_no, original=original)

    begun = yield from begin(build, lambda trace, batch, message: ask.begin_request(
        "void", trace=trace, batch=batch, message=message, amount=original.amount, currency=original.currency,
        pan=None, entry_mode="012", operator=operator.name, role=operator.role, original_id=original.id,
        purchase_id=original.purchase_id or original.id))
    txn, message = begun.txn, begun.message
    updated, status, text = yield from send_financial(profile, txn, message, operation="void")
    if status == "approved":
        text = say(profile.language, "void_approved", amount=profile.money(original.amount),
                   trace=f"{original.trace:06d}")
    return Outcome("void", status, text, txn=updated, steps=(updated,), details={"original_id": original.id})


#: why a sale that is not "approved" cannot be voided: its state names the text
NOT_VOIDABLE = ("voided", "refunded", "refunded_partially", "declined", "reversed", "sending", "in_doubt",
                "resolved_manually")


def _require_voidable(profile: Profile, original: Txn) -> None:
    if original.state != TxnState.APPROVED:
        key = original.state if original.state in NOT_VOIDABLE else "other_state"
        raise EngineError(say(profile.language, key, trace=f"{original.trace:06d}", state=original.state),
                          code="not_voidable", txn_id=original.id)


def when_text(timestamp: float) -> str:
    """A journaled moment as the operator reads it: local time to the minute."""
    return local_time(timestamp, MINUTES)


# ---------------------------------------------------------------- refund

def find_original_sale(profile: Profile, request: RefundRequest) -> Gen:
    language = profile.language
    refundable = ("sale", "correction", "completion")  # a completion is refundable too
    if request.trace is not None:
        original = yield from newest_by_trace(request.trace, refundable)
        what = say(language, "what_trace", trace=f"{request.trace:06d}")
    elif request.rrn:
        found = yield from ask.find(rrn=request.rrn, limit=20)
        if request.date:
            found = [t for t in found if _mmdd(t.created_at) == request.date]
            what = say(language, "what_rrn_date", rrn=request.rrn, day=f"{request.date[:2]}-{request.date[2:]}")
        else:
            what = say(language, "what_rrn", rrn=request.rrn)
        original = newest_of(found, refundable)
    else:
        raise EngineError(say(language, "name_original"), code="usage")
    if original is None:
        raise EngineError(say(language, "no_sale_with", what=what), code="not_found")
    return original


#: what a void or a correction names by its trace: a sale, or the linked sale a fix charged
SALE_KINDS = ("sale", "correction")


def newest_of(found: list[Txn], kinds: tuple[str, ...] | None = None) -> Txn | None:
    """The newest of `kinds` (any kind: None) among journal matches — trace numbers wrap and an RRN is the
    bank's, so a look-up may find older or other transactions; None when there is none."""
    matching = [t for t in found if kinds is None or t.kind in kinds]
    return max(matching, key=lambda t: t.created_at) if matching else None


def newest_by_trace(trace: int, kinds: tuple[str, ...] | None = None) -> Generator[Any, Any, Txn | None]:
    """The one query for "the transaction this trace names": the newest of `kinds` (any kind: None) with it."""
    return newest_of((yield from ask.find(trace=trace, limit=20)), kinds)


def sale_by_trace(profile: Profile, trace: int) -> Gen:
    """The original sale with this trace number, or an error naming the trace."""
    original = yield from newest_by_trace(trace, SALE_KINDS)
    if original is None:
        raise EngineError(say(profile.language, "no_sale_trace", trace=f"{trace:06d}"), code="not_found")
    return original


def _mmdd(timestamp: float) -> str:
    return local_mmdd(timestamp)


def refund(profile: Profile, request: RefundRequest, operator: Operator) -> Gen:
    language = profile.language
    try:
        original = yield from find_original_sale(profile, request)
    except EngineError as exc:  # a sale of another till: the back office, which holds every till's, says
        if exc.code != "not_found" or not office.may_ask(request):
            raise
        if request.client_request_id:
            same = yield from ask.find_request(request.client_request_id)
            if same is not None:
                return _repeat_outcome(profile, same, say(language, "why_same_request"))
        return (yield from office.refund_of_another_till(profile, request, operator))
    trace = f"{original.trace:06d}"
    if original.state in (TxnState.DECLINED, TxnState.REVERSED, TxnState.VOIDED):
        raise EngineError(say(language, "nothing_to_refund", trace=trace, state=original.state),
                          code="not_refundable", txn_id=original.id)
    if original.state in (TxnState.SENDING, TxnState.IN_DOUBT):
        raise EngineError(say(language, "original_uncertain", trace=trace), code="original_uncertain",
                          txn_id=original.id)
    if request.client_request_id:
        same = yield from ask.find_request(request.client_request_id)
        if same is not None:
            return _repeat_outcome(profile, same, say(language, "why_same_request"))
    refundable = yield from ask.refundable_amount(original.id)
    amount = refundable if request.amount is None else request.amount
    if refundable <= 0:
        others = (yield from _other_parts(profile, original)) if request.name_other_parts else ""
        raise EngineError(" ".join(p for p in (say(language, "fully_refunded", trace=trace), others) if p),
                          code="not_refundable", txn_id=original.id)
    if amount > refundable:
        raise EngineError(say(language, "refund_too_large", amount=profile.money(amount),
                              refundable=profile.money(refundable), trace=trace,
                              original=profile.money(original.amount)), code="amount_too_large", txn_id=original.id)
    if not request.confirm_repeat and profile.refund_repeat_seconds > 0:
        recent = yield from ask.recent_refunds(original.id, window_seconds=profile.refund_repeat_seconds)
        repeats = [t for t in recent if t.amount == amount and t.state in LIVE_STATES]
        if repeats:
            earlier = repeats[-1]
            return Outcome("refund", "needs_confirmation",
                           say(language, "repeat_refund", original=trace, trace=f"{earlier.trace:06d}",
                               amount=profile.money(earlier.amount), state=earlier.state),
                           txn=earlier, details={"guard": "repeat_refund", "original_id": original.id,
                                                 "earlier": earlier.id})
    yield from ensure_ready(profile)

    def build(trace_no: int, batch_no: int) -> Message:
        return refund_request(profile, trace=trace_no, batch=batch_no, amount=amount, original=original)

    begun = yield from begin(build, lambda trace, batch, message: ask.begin_request(
        "refund", trace=trace, batch=batch, message=message, amount=amount, currency=original.currency, pan=None,
        entry_mode="012", operator=operator.name, role=operator.role, original_id=original.id,
        purchase_id=original.purchase_id or original.id, client_request_id=request.client_request_id))
    txn, message = begun.txn, begun.message
    updated, status, text = yield from send_financial(profile, txn, message, operation="refund")
    if status == "approved":
        text = say(language, "refund_approved", amount=profile.money(amount), card=original.pan_masked,
                   trace=trace, left=profile.money(refundable - amount))
        if request.name_other_parts:
            text = " ".join(p for p in (text, (yield from _other_parts(profile, original))) if p)
    return Outcome("refund", status, text, txn=updated, steps=(updated,),
                   details={"original_id": original.id, "refundable_before": refundable})


def purchase_parts(original: Txn) -> Gen:
    """Every sale a fix charged for the same purchase as `original`, in any state, oldest first: a linked
    sale of a difference, a void's re-sale — and the parts of a part fixed on its own trace."""
    parts, frontier, seen = [], [original.id], {original.id}
    while frontier:
        for part in (yield from ask.corrections_of(frontier.pop(0))):
            if part.id not in seen:
                seen.add(part.id)
                frontier.append(part.id)
                parts.append(part)
    return sorted(parts, key=lambda t: t.id)


def _other_parts(profile: Profile, original: Txn) -> Gen:
    """The sales a fix charged for the same purchase (a linked difference, a void's re-sale): a refund of the
    sale does not reach them, so the cashier is told each one still refundable and the command for it."""
    notes = []
    for part in (yield from purchase_parts(original)):
        left = yield from ask.refundable_amount(part.id)
        if left > 0:
            notes.append(say(profile.language, "refund_other_part", part=f"{part.trace:06d}",
                             amount=profile.money(left)))
    return " ".join(notes)


def _repeat_outcome(profile: Profile, earlier: Any, why: str) -> Outcome:
    return Outcome("refund", "repeat", say(profile.language, "repeat", why=why, trace=f"{earlier.trace:06d}",
                                           amount=profile.money(earlier.amount), state=earlier.state),
                   txn=earlier, steps=(earlier,))
