"""The issuer's online PIN check: decipher field 52 under the terminal's PIN key, compare with the card's.

A card profile with a `pin` (simulator/data/cards.toml) has its PIN checked on every sale or pre-auth;
with `pin_required` a request without field 52 is refused too.  Wrong PINs in a row are counted from
the ledger itself (the card's latest sale and pre-auth rows), so the count survives a host restart:
the third wrong PIN in a row answers 75 and the card stays locked until a supervisor resets it (in the
simulator: a new ledger).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.iso8583 import CodecError
from agent.iso8583.crypto import pin_from_block_iso0, tdes_ecb_decrypt
from simulator.host import codes

if TYPE_CHECKING:
    from simulator.host.processing import HostProcessor, Request
    from simulator.testcards import TestCard

#: wrong PINs in a row before the card is locked (75)
PIN_TRY_LIMIT = 3


def wrong_pins_in_a_row(host: "HostProcessor", card: str) -> int:
    rows = host.ledger.read("SELECT response_code FROM txns WHERE card = ? AND kind IN ('sale', 'preauth') "
                            "ORDER BY id DESC LIMIT ?", (card, PIN_TRY_LIMIT))
    count = 0
    for row in rows:
        if row["response_code"] not in (codes.INCORRECT_PIN, codes.PIN_TRIES_EXCEEDED):
            break
        count += 1
    return count


def check_pin(host: "HostProcessor", req: "Request", card: "TestCard", pan: str) -> str:
    """APPROVED, or why not: 55 wrong (or missing) PIN, 75 too many wrong PINs, 30 a malformed block."""
    block = req.msg.get(52)
    if not card.pin:
        return codes.APPROVED if block is None else codes.FORMAT_ERROR  # a PIN for a card without one
    wrong = wrong_pins_in_a_row(host, card.name)
    if wrong >= PIN_TRY_LIMIT:
        return codes.PIN_TRIES_EXCEEDED
    if block is None:
        return codes.INCORRECT_PIN if card.pin_required else codes.APPROVED
    keys = host.working_keys(req.tid)
    if keys is None or not isinstance(block, bytes):
        return codes.FORMAT_ERROR
    try:
        pin = pin_from_block_iso0(tdes_ecb_decrypt(keys.pin, block), pan)
    except CodecError:
        return codes.INCORRECT_PIN  # a block that does not decode under this key and PAN is a wrong PIN
    if pin == card.pin:
        return codes.APPROVED
    return codes.PIN_TRIES_EXCEEDED if wrong + 1 >= PIN_TRY_LIMIT else codes.INCORRECT_PIN
