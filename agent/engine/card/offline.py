"""Offline approvals: a sale approved without the acquirer — by the chip card (a TC, at the first GENERATE
AC or, while the link is down, the second with Y3) or, for a swiped or keyed card stored while the link is
down, by the merchant's limits alone — journaled as approved-offline, and the advice (0220, 60.1 = 30) that
tells the acquirer later: before anything else online, at the latest before settlement.

The sale is journaled in ONE commit as "advice_pending" with its masked message (a chip sale's field 55
with the TC is the evidence) and the card sealed for the advice (agent/drivers/cardseal.py: PAN, expiry
and the chip data, or a swipe's track 2); it owes no reversal.  The advice is rebuilt from that record, so
it survives a restart and is sent, the same bytes each time, until the acquirer answers: the advice's
message is the shared part's (`requests.offline_sale_message`, `requests.advice_from_record`), because the
owed-flush every family's message waits for rebuilds it."""

from __future__ import annotations

from typing import Any

from agent.engine.common import begin
from agent.engine.port import ask
from agent.engine.requests import CardData, Profile, offline_sale_message
from agent.engine.texts import say
from agent.engine.effects import Outcome, Plan
from agent.iso8583.dump import message_to_json


def approve_offline(profile: Profile, request: Any, operator: Any, card: CardData, *, limits: Any = None) -> Plan:
    """Journal the offline approval (advice pending) and tell the cashier; nothing is sent now.  A sale stored
    while the link is down passes its `limits`, checked in the journal commit that stores it."""
    def build(trace: int, batch: int) -> dict[str, Any]:
        message = offline_sale_message(profile, trace=trace, batch=batch, amount=request.amount, card=card)
        return {**message_to_json(message, masked=True), "sealed_card": card.sealed_card}

    begun = yield from begin(build, lambda trace, batch, message: ask.begin_request(
        request.kind, trace=trace, batch=batch, message=message, amount=request.amount, currency=profile.currency,
        pan=card.pan, entry_mode=card.entry_mode, operator=operator.name, role=operator.role,
        original_id=request.original_id, purchase_id=request.purchase_id, client_request_id=request.client_request_id,
        advice=True, offline_limits=limits))
    txn = begun.txn
    chip = card.field55 is not None
    text = say(profile.language, "sale_approved_offline" if chip else "sale_stored_offline",
               amount=profile.money(request.amount), card=txn.pan_masked,
               trace=f"{txn.trace:06d}")
    return Outcome("sale", "approved", text, txn=txn, steps=(txn,),
                   details={"offline": True, "advice": "pending", "entry_mode": card.entry_mode,
                            **({"cryptogram": "TC"} if chip else {})})
