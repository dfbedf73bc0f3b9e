"""Offline approvals: a sale approved without the acquirer — by the chip card (a TC, at the first GENERATE
AC or, while the link is down, the second with Y3) or, for a swiped or keyed card stored while the link is
down, by the merchant's limits alone — journaled as approved-offline, and the advice (0220, 60.1 = 30) that
tells the acquirer later: before anything else online, at the latest before settlement.

The sale is journaled in ONE commit as "advice_pending" with its masked message (a chip sale's field 55
with the TC is the evidence) and the card sealed for the advice (agent/drivers/cardseal.py: PAN, expiry
and the chip data, or a swipe's track 2); it owes no reversal.  The advice is rebuilt from that record, so
it survives a restart and is sent, the same bytes each time, until the acquirer answers."""

from __future__ import annotations

from typing import Any, Generator, Mapping

from agent.engine.port import ask
from agent.engine.requests import CardData, Profile, sale_request
from agent.engine.texts import say
from agent.engine.effects import Outcome, Plan
from agent.iso8583 import Message
from agent.iso8583.dump import message_to_json

#: kinds an offline approval can be (pre-auths and the sales of a correction always go online)
OFFLINE_KINDS = ("sale",)


def offline_sale_message(profile: Profile, *, trace: int, batch: int, amount: int, card: CardData) -> Message:
    """The advice of a sale stored offline: the sale's fields under the MTI and 60.1 the dialect gives the kind
    "offline_sale" (cup: 0220, 60.1 = 30; domain notes §3).
    A chip sale's carries field 55 with the TC and no track data (the TC vouches for the card); a swiped one's
    carries track 2 (35), the issuer's only evidence the card was there; a keyed one's, PAN and expiry alone."""
    message = sale_request(profile, trace=trace, batch=batch, amount=amount, card=card, kind="offline_sale")
    if card.field55:
        return Message(message.mti, {n: v for n, v in message.fields.items() if n != 35})
    return message


def approve_offline(profile: Profile, request: Any, operator: Any, card: CardData, *, limits: Any = None) -> Plan:
    """Journal the offline approval (advice pending) and tell the cashier; nothing is sent now.  A sale stored
    while the link is down passes its `limits`, checked in the journal commit that stores it."""
    def build(trace: int, batch: int) -> dict[str, Any]:
        message = offline_sale_message(profile, trace=trace, batch=batch, amount=request.amount, card=card)
        return {**message_to_json(message, masked=True), "sealed_card": card.sealed_card}

    begun = yield from ask.begin_request(
        request.kind, amount=request.amount, currency=profile.currency, pan=card.pan, entry_mode=card.entry_mode,
        operator=operator.name, role=operator.role, original_id=request.original_id, purchase_id=request.purchase_id,
        client_request_id=request.client_request_id, build=build, advice=True,
        **({"offline_limits": limits} if limits is not None else {}))
    txn = begun.txn
    chip = card.field55 is not None
    text = say(profile.language, "sale_approved_offline" if chip else "sale_stored_offline",
               amount=profile.money(request.amount), card=txn.pan_masked,
               trace=f"{txn.trace:06d}")
    return Outcome("sale", "approved", text, txn=txn, steps=(txn,),
                   details={"offline": True, "advice": "pending", "entry_mode": card.entry_mode,
                            **({"cryptogram": "TC"} if chip else {})})


def advice_from_record(profile: Profile, txn: Any, record: Mapping[str, Any], pan: str, expiry: str, icc: bytes,
                       track2: str | None = None) -> Message:
    """The advice again, from journal facts and the unsealed card (the same message each time): a chip sale's
    field 55, a swiped one's track 2."""
    sequence = record.get("fields", {}).get("23")
    entry_mode = txn.entry_mode or "052"
    card = CardData(pan=pan, expiry=expiry, entry_mode=entry_mode, field55=icc or None, track2=track2,
                    fallback=entry_mode.startswith("80"),
                    sequence=sequence if isinstance(sequence, str) and sequence.isdigit() else None)
    return offline_sale_message(profile, trace=txn.trace, batch=txn.batch, amount=txn.amount, card=card)


def manual_note(profile: Profile, batch_number: int) -> Generator[Any, Any, str]:
    """What a settlement says of the batch's stored sales needing manual handling ("" when none): the bank was
    never told of them, so they are in neither side's totals nor the batch upload — said, never silently dropped."""
    items = [t for t in (yield from ask.advices_needing_manual_handling()) if t["batch"] == batch_number]
    if not items:
        return ""
    return say(profile.language, "settle_manual", count=len(items),
               amount=profile.money(sum(t["amount"] for t in items)))
