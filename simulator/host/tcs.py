"""IC card TC uploads (0320, 60.3 = 203 with field 55): the acquirer keeps the card's TC of each approved
chip transaction, checked against the card's keys like the ARQC was (EMV Book 2: the same session key,
over the CDOL2 data the card signed at the second GENERATE AC), and says which ones never arrived.

An IC record's upload without field 55 is a settlement batch-upload record (simulator/host/financial.py).
A TC sent again is answered as it was the first time and stored once; a TC moves no money.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.iso8583 import CodecError
from simulator import emvcrypto
from simulator.card.applet import CDOL2
from simulator.host import codes
from simulator.host.financial import batch_upload, chip_items

if TYPE_CHECKING:
    from agent.iso8583 import Message
    from simulator.host.processing import HostProcessor, Request
    from simulator.testcards import TestCard

#: 9F27 of a transaction certificate
TC = 0x40


def ic_upload(host: "HostProcessor", req: "Request") -> "Message":
    """An IC record's 0320 (60.3 = 203): a TC upload when it carries field 55, else a batch-upload record."""
    if 55 not in req.msg:
        return batch_upload(host, req)
    return tc_upload(host, req)


def tc_upload(host: "HostProcessor", req: "Request") -> "Message":
    earlier = host.ledger.tc_upload(req.tid, req.batch, req.stan)
    if earlier is not None:  # the answer was lost: the same answer again, stored once
        host.ledger.record_tc_repeat(req.tid, req.batch, req.stan, req.now.isoformat())
        return host.answer(req, earlier["response_code"])
    original = host.ledger.find_by_trace(req.tid, req.batch, req.stan)
    if original is None or original.response_code != codes.APPROVED:
        return host.answer(req, codes.ORIGINAL_NOT_FOUND)  # nothing approved under this trace: nothing kept
    card = host.cards.get(original.card) if original.card else None
    code, cryptogram = verify_tc(card, req.msg, original.amount)
    host.ledger.record_tc(tid=req.tid, batch=req.batch, stan=req.stan, txn_id=original.id,
                          cryptogram=cryptogram.hex().upper() if cryptogram else None, response_code=code,
                          now=req.now.isoformat())
    return host.answer(req, code)


def verify_tc(card: "TestCard | None", msg: "Message", amount: int) -> tuple[str, bytes | None]:
    """(response code, the TC): 00 when 9F27 says TC and the cryptogram is the card's over its CDOL2 data."""
    if card is None:
        return codes.UNKNOWN_CARD, None
    if msg.amount != amount:
        return codes.FORMAT_ERROR, None
    try:
        values = {item.tag: item.value for item in chip_items(msg)}
    except CodecError:
        return codes.FORMAT_ERROR, None
    cryptogram = values.get(0x9F26)
    kind = values.get(0x9F27)
    if cryptogram is None or not kind or kind[0] & 0xC0 != TC:
        return codes.FORMAT_ERROR, cryptogram
    dol = CDOL2[card.keys.arpc_method]
    for tag, length in dol:  # issuer data the terminal did not get is sent to the card as zeros
        values.setdefault(tag, bytes(length))
    try:
        expected = emvcrypto.application_cryptogram(card.keys, card.pan, card.sequence, dol, values)
    except emvcrypto.CryptogramError:
        return codes.FORMAT_ERROR, cryptogram
    return (codes.APPROVED if expected == cryptogram else codes.SUSPECTED_FRAUD), cryptogram
