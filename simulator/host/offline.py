"""Advices of sales the card approved offline (0220, 60.1 = 30): the acquirer books what was approved.

The card's TC in field 55 is checked like an ARQC (same keys, same data, EMV Book 2); a valid TC is
booked as an approved sale — the card, not the issuer, decided, so there is no balance check — and
the wrong one (34), an unknown card (14) or a card the issuer refuses is booked as declined.  A repeated advice (same STAN, the
answer was lost) is answered again as the first time, never booked twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.iso8583 import CodecError, tlv
from simulator.host import codes
from simulator.host.financial import _record, _result, check_chip, chip_items, open_card_request
from simulator.host.tcs import verify_tc

if TYPE_CHECKING:
    from agent.iso8583 import Message
    from simulator.host.processing import HostProcessor, Request

#: 9F27 of a transaction certificate (the card approved offline)
TC = 0x40


def _cryptogram_type(msg: "Message") -> int | None:
    try:
        value = tlv.find(chip_items(msg), 0x9F27)
    except CodecError:
        return None
    return value[0] & 0xC0 if value else None


def _arc(msg: "Message") -> bytes | None:
    try:
        return tlv.find(chip_items(msg), 0x8A)
    except CodecError:
        return None


def sale_advice(host: "HostProcessor", req: "Request") -> "Message":
    if 61 in req.msg:  # names a pre-auth: a completion advice whose configured 60.1 happens to be 30
        from simulator.host.holds import completion_advice
        return completion_advice(host, req)
    earlier = host.ledger.find_by_trace(req.tid, req.batch, req.stan)
    if earlier is not None and earlier.kind == "sale" and earlier.amount == req.amount:
        return _result(host, req, earlier)
    refusal, card, pan, code = open_card_request(host, req)
    if refusal is not None:
        return refusal
    amount = req.amount
    if card is not None and code == codes.APPROVED:
        if _cryptogram_type(req.msg) != TC:
            code = codes.FORMAT_ERROR  # an advice of an offline approval carries the TC
        else:
            code, _ = check_chip(card, req.msg, amount)
            if code != codes.APPROVED and _arc(req.msg) == b"Y3":
                # the terminal could not go online: the TC came from the second GENERATE AC, over CDOL2
                code, _ = verify_tc(card, req.msg, amount)
    txn = _record(host, req, "sale", card, pan, amount, code)
    return _result(host, req, txn)
