"""Offline approvals: a sale the terminal's action analysis and the card approved offline (TC at the
first GENERATE AC), journaled as approved-offline, and the advice (0220, 60.1 = 30) that tells the
acquirer later — before anything else online, at the latest before settlement.

The sale is journaled in ONE commit as "advice_pending" with its masked message (field 55 with the TC
is the evidence) and the card number sealed for the advice (agent/drivers/cardseal.py); it owes no
reversal.  The advice is rebuilt from that record, so it survives a restart and is sent, the same
bytes each time, until the acquirer answers.
"""

from __future__ import annotations

from typing import Any, Mapping

from agent.engine.port import ask
from agent.engine.requests import CardData, Profile, sale_request
from agent.engine.texts import say
from agent.engine.effects import Outcome, Plan
from agent.iso8583 import Message
from agent.iso8583.subfields import Field60
from agent.money import format_amount

#: 60.1 of an offline sale advice (domain notes §3: offline sale 0220, 60.1 = 30)
OFFLINE_SALE_TYPE = "30"
ADVICE_MTI = "0220"
#: kinds an offline approval can be (pre-auths and the sales of a correction always go online)
OFFLINE_KINDS = ("sale",)


def offline_sale_message(profile: Profile, *, trace: int, batch: int, amount: int, card: CardData) -> Message:
    """The advice of an offline-approved sale: the sale's fields, MTI 0220 and 60.1 = 30, field 55 with the TC."""
    sale = sale_request(profile, trace=trace, batch=batch, amount=amount, card=card)
    fields = dict(sale.fields)
    fields.pop(35, None)  # an advice needs no track data: the TC vouches for the card
    fields[60] = Field60(tx_type=OFFLINE_SALE_TYPE, batch=f"{batch:06d}", nmc="000", read_cap="5",
                         ic_cond="0").to_str()
    return Message(ADVICE_MTI, fields)


def approve_offline(profile: Profile, request: Any, operator: Any, card: CardData, *, limits: Any = None) -> Plan:
    """Journal the offline approval (advice pending) and tell the cashier; nothing is sent now.  A sale stored
    while the link is down passes its `limits`, checked in the journal commit that stores it."""
    def build(trace: int, batch: int) -> dict[str, Any]:
        message = offline_sale_message(profile, trace=trace, batch=batch, amount=request.amount, card=card)
        return {**message.to_json(masked=True), "sealed_card": card.sealed_card}

    begun = yield from ask.begin_request(
        request.kind, amount=request.amount, currency=profile.currency, pan=card.pan, entry_mode=card.entry_mode,
        operator=operator.name, role=operator.role, original_id=request.original_id, chain_id=request.chain_id,
        client_request_id=request.client_request_id, build=build, advice=True,
        **({"offline_limits": limits} if limits is not None else {}))
    txn = begun.txn
    text = say(profile.language, "sale_approved_offline",
               amount=format_amount(request.amount, profile.currency_exponent), card=txn.pan_masked,
               trace=f"{txn.trace:06d}")
    return Outcome("sale", "approved", text, txn=txn, steps=(txn,),
                   details={"offline": True, "cryptogram": "TC", "advice": "pending"})


def advice_from_record(profile: Profile, txn: Any, record: Mapping[str, Any], pan: str, expiry: str, icc: bytes) -> Message:
    """The advice again, from journal facts and the unsealed card (the same message each time)."""
    sequence = record.get("fields", {}).get("23")
    card = CardData(pan=pan, expiry=expiry, entry_mode=txn.entry_mode or "052", field55=icc,
                    sequence=sequence if isinstance(sequence, str) and sequence.isdigit() else None)
    return offline_sale_message(profile, trace=txn.trace, batch=txn.batch, amount=txn.amount, card=card)
