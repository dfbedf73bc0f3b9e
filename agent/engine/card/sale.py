"""Paying by card: the sale with its card read, the duplicate question, a card keyed by hand, and the card
family's two ways of selling without the bank's answer (`card.offline`: the chip approved it; `card.store_forward`:
the link is down and the merchant's limits allow it).

The sale follows the order every operation does: refuse early what the rules forbid (with the reason and the
way out), get ready (link, reversals first, keys), journal the intent, send, journal the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.engine.amount_guards import check_amount
from agent.engine.card.offline import approve_offline
from agent.engine.card.store_forward import host_unreachable, offline_sale
from agent.engine.common import Gen, begin, with_card, ensure_ready, send_financial
from agent.engine.effects import EngineError, Outcome
from agent.engine.port import ask
from agent.engine.purchases import Operator
from agent.engine.requests import OFFLINE_KINDS, CardData, Profile, sale_request
from agent.engine.texts import say
from agent.iso8583 import Message


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

    begun = yield from begin(build, lambda trace, batch, message: ask.begin_request(
        request.kind, trace=trace, batch=batch, message=message, amount=request.amount, currency=profile.currency,
        pan=card.pan, entry_mode=card.entry_mode, operator=operator.name, role=operator.role,
        original_id=request.original_id, purchase_id=request.purchase_id, client_request_id=request.client_request_id))
    txn, message = begun.txn, begun.message
    updated, status, text = yield from send_financial(profile, txn, message, operation="sale",
                                                      chip=card.field55 is not None)
    if status == "approved":
        text = say(profile.language, "sale_approved", amount=profile.money(request.amount), card=updated.pan_masked,
                   trace=f"{updated.trace:06d}", auth=updated.auth_code or "-")
    elif status == "declined":
        text = say(profile.language, "sale_declined", reason=text)
    return Outcome("sale", status, text, txn=updated, steps=(updated,))
