"""Advices of sales approved offline (0220, 60.1 = 30): the acquirer books what was approved, or declines it.

A chip sale's advice carries the card's TC in field 55, checked like an ARQC (same keys, same data, EMV
Book 2); a valid TC is booked as an approved sale — the card, not the issuer, decided, so there is no
balance check — and the wrong one (34) is booked as declined.  A swiped or keyed sale's advice has no field
55 (and a field 22 that is no chip read's): nothing but the merchant's limits approved it, so this is the
issuer's first look at the sale and it is checked as an online sale would be — the card known (14), the
expiry presented the card's and not past (54), not blocked (its behaviour), track 2 (when sent) the card's
own (14), and the funds (51) — then booked approved or declined.  An unknown card (14) or a card the issuer refuses is booked as declined either way.
A repeated advice (same STAN, the answer was lost) is answered again as the first time, never booked twice."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.iso8583 import CodecError, tlv
from simulator.host import codes
from simulator.host.financial import answer_for, available_code, check_chip, chip_items, open_card_request, record
from simulator.host.tcs import verify_tc

if TYPE_CHECKING:
    from agent.iso8583 import Message
    from simulator.host.processing import HostProcessor, Request
    from simulator.testcards import TestCard

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
        return answer_for(host, req, earlier)
    refusal, card, pan, code = open_card_request(host, req)
    if refusal is not None:
        return refusal
    amount = req.amount
    chip_read = str(req.msg.get(22) or "").startswith("05")  # a chip read's advice must carry its TC
    if card is not None and code == codes.APPROVED and not chip_read and 55 not in req.msg:  # swiped or keyed
        code = _stand_in_code(host, req, card, amount)
    elif card is not None and code == codes.APPROVED:
        if _cryptogram_type(req.msg) != TC:
            code = codes.FORMAT_ERROR  # an advice of a chip sale approved offline carries the TC
        else:
            code, _ = check_chip(card, req.msg, amount)
            if code != codes.APPROVED and _arc(req.msg) == b"Y3":
                # the terminal could not go online: the TC came from the second GENERATE AC, over CDOL2
                code, _ = verify_tc(card, req.msg, amount)
    txn = record(host, req, "sale", card, pan, amount, code)
    return answer_for(host, req, txn)


def _stand_in_code(host: "HostProcessor", req: "Request", card: "TestCard", amount: int) -> str:
    """A swiped or keyed sale approved on the merchant's limits: its track 2 (a swipe's) must be the card's,
    then the funds decide, as they would have online (`check_card` has seen the card and its expiry)."""
    track2 = req.msg.get(35)
    if track2 is not None:
        pan, _, rest = str(track2).replace("D", "=").partition("=")
        if pan != card.pan or rest[:7] != card.expiry + card.service_code:
            return codes.UNKNOWN_CARD
    return available_code(host, req, card, amount)
