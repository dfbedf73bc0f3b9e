"""Sale, void and refund: the three financial operations, each a sans-IO plan.

Every one follows the same order: refuse early what the rules forbid (with the reason and the way
out), get ready (link, reversals first, keys), journal the intent, send, journal the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.engine import office
from agent.engine.amount_guards import check_amount
from agent.engine.common import Gen, with_card, ensure_ready, send_financial
from agent.engine.effects import EngineError, Outcome
from agent.engine.offline import OFFLINE_KINDS, approve_offline
from agent.engine.store_forward import host_unreachable, offline_sale
from agent.engine.port import ask
from agent.engine.texts import say
from agent.engine.requests import CardData, Profile, local_mmdd, refund_request, sale_request, void_request
from agent.iso8583 import Message
from agent.journal.records import Txn
from agent.journal.states import LIVE_STATES, BatchState, TxnState
from agent.localtime import MINUTES, local_time


@dataclass(frozen=True)
class Operator:
    name: str = "cashier"
    role: str = "cashier"


@dataclass(frozen=True)
class SaleRequest:
    amount: int
    test_card: str | None = None
    confirm_duplicate: bool = False
    confirm_unusual: bool = False
    client_request_id: str | None = None
    kind: str = "sale"  # "correction" for a linked sale of a difference
    original_id: int | None = None
    purchase_id: int | None = None
    keyed: bool = False  # the test card's number and expiry keyed by a supervisor (`[card_reader] manual_entry`)


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



def keyed_refusal(profile: Profile, request: SaleRequest, operator: Operator) -> EngineError | None:
    """A card keyed by hand: only where `[card_reader] manual_entry` allows it, only by a supervisor, and (with
    no keypad entry of a typed number yet) only a named test card's."""
    if not request.keyed:
        return None
    if not profile.manual_entry:
        return EngineError(say(profile.language, "keyed_disabled"), code="card")
    if operator.role != "supervisor":
        return EngineError(say(profile.language, "card_ManualEntryRefused"), code="auth")
    if request.test_card is None:
        return EngineError(say(profile.language, "keyed_needs_card"), code="usage")
    return None


def sale(profile: Profile, request: SaleRequest, operator: Operator) -> Gen:
    refused = keyed_refusal(profile, request, operator)
    if refused is not None:
        raise refused
    if request.kind == "sale":  # a fix's sale charges part of a purchase already made: never stopped halfway
        question = yield from check_amount(profile, "sale", request.amount, confirmed=request.confirm_unusual)
        if question is not None:
            return question
    if request.kind == "sale" and profile.offline is not None:  # store-and-forward: the link may be down
        why = yield from host_unreachable(profile, try_first=True)
        if why is None:
            try:
                yield from ensure_ready(profile)
            except EngineError:
                why = yield from host_unreachable(profile)
                if why is None:
                    raise
        if why is not None:
            return (yield from offline_sale(profile, request, operator, why,
                                            question=lambda card: _duplicate_question(profile, request, card)))
    else:
        yield from ensure_ready(profile)
    return (yield from with_card(request.amount, request.test_card,
                                 lambda card: sale_with_card(profile, request, operator, card),
                                 offline_ok=request.kind in OFFLINE_KINDS, keyed=request.keyed))


def _duplicate_question(profile: Profile, request: SaleRequest, card: CardData) -> Gen:
    """The same card for the same amount a moment ago: the cashier confirms first (None: go ahead)."""
    if request.confirm_duplicate or profile.duplicate_window_seconds <= 0:
        return None
    fingerprint = yield from ask.fingerprint(card.pan)
    earlier = yield from ask.duplicates_of(fingerprint, request.amount, window_seconds=profile.duplicate_window_seconds)
    if not earlier:
        return None
    last = earlier[-1]
    return Outcome("sale", "needs_confirmation",
                   say(profile.language, "duplicate", amount=profile.money(request.amount), trace=f"{last.trace:06d}"),
                   txn=last, details={"guard": "duplicate", "earlier": [t.id for t in earlier]})


def sale_with_card(profile: Profile, request: SaleRequest, operator: Operator, card: CardData) -> Gen:
    question = yield from _duplicate_question(profile, request, card)
    if question is not None:
        return question

    if card.approved_offline:  # the terminal's action analysis and the card approved offline (TC)
        return (yield from approve_offline(profile, request, operator, card))

    def build(trace: int, batch: int) -> Message:
        return sale_request(profile, trace=trace, batch=batch, amount=request.amount, card=card, kind=request.kind)

    begun = yield from ask.begin_request(
        request.kind, amount=request.amount, currency=profile.currency, pan=card.pan, entry_mode=card.entry_mode,
        operator=operator.name, role=operator.role, original_id=request.original_id, purchase_id=request.purchase_id,
        client_request_id=request.client_request_id, build=build)
    txn, message = begun.txn, begun.message
    updated, status, text = yield from send_financial(profile, txn, message, operation="sale",
                                                      chip=card.field55 is not None)
    if status == "approved":
        text = say(profile.language, "sale_approved", amount=profile.money(request.amount), card=updated.pan_masked,
                   trace=f"{updated.trace:06d}", auth=updated.auth_code or "-")
    elif status == "declined":
        text = say(profile.language, "sale_declined", reason=text)
    return Outcome("sale", status, text, txn=updated, steps=(updated,))


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

    begun = yield from ask.begin_request(
        "void", amount=original.amount, currency=original.currency, pan=None, entry_mode="012",
        operator=operator.name, role=operator.role, original_id=original.id,
        purchase_id=original.purchase_id or original.id, build=build)
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
    if request.trace is not None:
        found = yield from ask.find(trace=request.trace, limit=20)
        what = say(language, "what_trace", trace=f"{request.trace:06d}")
    elif request.rrn:
        found = yield from ask.find(rrn=request.rrn, limit=20)
        if request.date:
            found = [t for t in found if _mmdd(t.created_at) == request.date]
            what = say(language, "what_rrn_date", rrn=request.rrn, day=f"{request.date[:2]}-{request.date[2:]}")
        else:
            what = say(language, "what_rrn", rrn=request.rrn)
    else:
        raise EngineError(say(language, "name_original"), code="usage")
    original = latest_sale(found, ("sale", "correction", "completion"))  # a completion is refundable too
    if original is None:
        raise EngineError(say(language, "no_sale_with", what=what), code="not_found")
    return original


def latest_sale(found: list[Any], kinds: tuple[str, ...] = ("sale", "correction")) -> Any | None:
    """The original sale among journal matches: the newest of `kinds` (trace numbers wrap, and a lookup
    may find other kinds); None when there is none."""
    sales = [t for t in found if t.kind in kinds]
    return max(sales, key=lambda t: t.created_at) if sales else None


def sale_by_trace(profile: Profile, trace: int) -> Gen:
    """The original sale with this trace number, or an error naming the trace."""
    original = latest_sale((yield from ask.find(trace=trace, limit=20)))
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

    begun = yield from ask.begin_request(
        "refund", amount=amount, currency=original.currency, pan=None, entry_mode="012",
        operator=operator.name, role=operator.role, original_id=original.id,
        purchase_id=original.purchase_id or original.id, client_request_id=request.client_request_id, build=build)
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
