"""Money-moving requests: balance, sale, void, refund, reversal, batch upload — the host's rules.

Each handler takes the processor and a `Request` and returns the response; every outcome of a
sale, void or refund (approved or declined) is one ledger row, so a repeated STAN in the same batch
is recognised.  Requests that fail the MAC, repeat a STAN or are malformed leave no row.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Mapping

from agent.iso8583 import CodecError, Message, tlv
from agent.iso8583.subfields import Field61
from agent.masking import mask_pan
from simulator.host import codes
from simulator import emvcrypto
from simulator.host.ledger import Txn
from simulator.testcards import CDOL1, TestCard, card_by_pan

if TYPE_CHECKING:
    from simulator.host.processing import HostProcessor, Request


def _card_data(msg: Message) -> tuple[str | None, str | None]:
    """(PAN, expiry YYMM) from field 2 / 14, else from track 2 (35)."""
    pan, expiry = msg.get(2), msg.get(14)
    track2 = msg.get(35)
    if isinstance(track2, str) and track2:
        for sep in ("=", "D", "d"):
            if sep in track2:
                t_pan, _, rest = track2.partition(sep)
                pan = pan or t_pan
                expiry = expiry or (rest[:4] if len(rest) >= 4 else None)
                break
    return (pan if isinstance(pan, str) else None), (expiry if isinstance(expiry, str) else None)


def _expired(expiry: str, now: datetime) -> bool:
    if len(expiry) != 4 or not expiry.isascii() or not expiry.isdigit():
        return True
    return (int(expiry[:2]), int(expiry[2:])) < (now.year % 100, now.month)


def check_card(host: HostProcessor, req: Request) -> tuple[TestCard | None, str]:
    """The card a request is for and the decline code its checks give (APPROVED if none)."""
    pan, expiry = _card_data(req.msg)
    card = card_by_pan(host.cards, pan) if pan else None
    if card is None:
        return None, codes.UNKNOWN_CARD
    if expiry is not None and expiry != card.expiry:
        return card, codes.EXPIRED_CARD  # the expiry presented is not the card's: treat as invalid expiry
    if _expired(card.expiry, req.now):
        return card, codes.EXPIRED_CARD
    if card.behaviour in codes.BEHAVIOUR_CODES:
        return card, codes.BEHAVIOUR_CODES[card.behaviour]
    return card, codes.APPROVED


def chip_items(msg: Message) -> list[tlv.Tlv]:
    """Field 55's TLV items (none without field 55); a CodecError when it is no chip data."""
    data = msg.get(55, b"")
    if not isinstance(data, bytes):
        raise CodecError("binary chip data", field=55)
    return tlv.decode(data)


def check_chip(card: TestCard, msg: Message, amount: int) -> tuple[str, bytes | None]:
    """Verify the ARQC in field 55 by EMV Book 2: (code, ARQC) — the ARQC is None without chip data.

    The session key comes from the card's issuer master key (Option A) and the ATC in 9F36; the ARQC
    covers the CDOL1 data, AIP, ATC and IAD, all taken from field 55."""
    if 55 not in msg:
        return codes.APPROVED, None
    try:
        items = chip_items(msg)
    except CodecError:
        return codes.FORMAT_ERROR, None
    values = {item.tag: item.value for item in items}
    arqc = values.get(0x9F26)
    try:
        expected = emvcrypto.application_cryptogram(card.keys, card.pan, card.sequence, CDOL1, values)
    except emvcrypto.CryptogramError:
        return codes.FORMAT_ERROR, arqc
    if arqc is None or expected != arqc:
        return codes.SUSPECTED_FRAUD, arqc
    if values[0x9F02].hex() != f"{amount:012d}":
        return codes.SUSPECTED_FRAUD, arqc
    return codes.APPROVED, arqc


def _issuer_data(card: TestCard | None, msg: Message, arqc: bytes | None, code: str) -> dict[int, bytes]:
    """Field 55 of the answer: tag 91 by the card profile's ARPC method (ARC = the response code in ASCII)."""
    if card is None or arqc is None:
        return {}
    atc = tlv.find(chip_items(msg), 0x9F36)
    if atc is None or len(atc) != 2:
        return {}
    auth = emvcrypto.issuer_authentication_data(card.keys, card.pan, card.sequence, atc, arqc, code.encode("ascii"))
    return {55: tlv.encode([tlv.Tlv(0x91, auth)])}


def record(host: HostProcessor, req: Request, kind: str, card: TestCard | None, pan: str | None, amount: int,
            code: str, orig_id: int | None = None, card_name: str | None = None) -> Txn:
    return host.ledger.record_txn(
        tid=req.tid, mid=req.mid, batch=req.batch, stan=req.stan, mti=req.msg.mti, kind=kind,
        card=card.name if card else card_name, masked_pan=mask_pan(pan) if pan else None, amount=amount,
        local_date=req.now.strftime("%m%d"), response_code=code, icc=55 in req.msg, orig_id=orig_id,
        now=req.now.isoformat())


def answer_for(host: HostProcessor, req: Request, txn: Txn, extra: Mapping[int, str | bytes] | None = None) -> Message:
    fields: dict[int, str | bytes] = {37: txn.rrn}
    if txn.auth_code:
        fields[38] = txn.auth_code
    fields.update(extra or {})
    return host.answer(req, txn.response_code, fields)


def precheck(host: HostProcessor, req: Request) -> str | None:
    """Checks before any row is written: amount present, STAN unused in this batch, batch open."""
    if req.amount <= 0 or req.f60 is None:
        return codes.FORMAT_ERROR
    used, settled = host.ledger.trace_state(req.tid, req.batch, req.stan)
    if used:
        return codes.DUPLICATE_TRANSMISSION
    if settled:
        return codes.INVALID_TRANSACTION
    return None


def balance(host: HostProcessor, req: Request) -> Message:
    card, code = check_card(host, req)
    if code != codes.APPROVED or card is None:
        return host.answer(req, code)
    available = card.balance - host.ledger.card_net_charged(card.name)
    sign = "C" if available >= 0 else "D"
    currency = req.msg.text(49) or "156"
    # 54: account type 10, amount type 02 (available), currency, sign, n12
    return host.answer(req, codes.APPROVED, {54: f"1002{currency}{sign}{abs(available):012d}"})


def open_card_request(host: HostProcessor, req: Request) -> tuple[Message | None, TestCard | None, str | None, str]:
    """What every request that charges a card opens with (a sale, a pre-auth, an offline sale's advice):
    the precheck, then the card.  (refusal, card, pan, code): `refusal` is the answer to send when the
    request may not be booked at all; otherwise `code` is the card check's, to be booked with the row."""
    bad = precheck(host, req)
    if bad:
        return host.answer(req, bad), None, None, bad
    pan, _ = _card_data(req.msg)
    card, code = check_card(host, req)
    return None, card, pan, code


def authorize_debit(host: HostProcessor, req: Request, kind: str) -> Message:
    """A sale or a pre-auth: card checks, the chip's ARQC, then what the card has left — its balance less
    what it was charged and what its open pre-auths hold — and one ledger row of `kind`."""
    refusal, card, pan, code = open_card_request(host, req)
    if refusal is not None:
        return refusal
    amount = req.amount
    arqc = None
    if code == codes.APPROVED and card is not None:
        code, arqc = check_chip(card, req.msg, amount)
    if code == codes.APPROVED and card is not None:
        from simulator.host.pin import check_pin
        code = check_pin(host, req, card, pan or card.pan)
    if code == codes.APPROVED and card is not None:
        code = available_code(host, req, card, amount)
    txn = record(host, req, kind, card, pan, amount, code)
    return answer_for(host, req, txn, _issuer_data(card, req.msg, arqc, code))


def available_code(host: HostProcessor, req: Request, card: TestCard, amount: int) -> str:
    """APPROVED when the card has `amount` left — its balance less what it was charged and what its open
    pre-auths hold —, else INSUFFICIENT_FUNDS."""
    from simulator.host.holds import held_amount, rules_of  # holds import this module
    held = held_amount(host.ledger, card.name, req.now, rules_of(host))
    if amount > card.balance - host.ledger.card_net_charged(card.name) - held:
        return codes.INSUFFICIENT_FUNDS
    return codes.APPROVED


def sale(host: HostProcessor, req: Request) -> Message:
    return authorize_debit(host, req, "sale")


def void(host: HostProcessor, req: Request) -> Message:
    bad = precheck(host, req)
    if bad:
        return host.answer(req, bad)
    amount = req.amount
    pan, _ = _card_data(req.msg)
    try:
        f61 = Field61.parse(req.msg[61])
    except (KeyError, CodecError):
        return host.answer(req, codes.FORMAT_ERROR)
    original = host.ledger.find_by_trace(req.tid, f61.orig_batch, f61.orig_trace)
    card = host.cards.get(original.card) if original and original.card else None
    if original is None or original.kind != "sale" or (req.msg.get(37) and req.msg[37] != original.rrn):
        code = codes.ORIGINAL_NOT_FOUND
    elif pan is not None and (card is None or card.pan != pan):
        code = codes.ORIGINAL_NOT_FOUND
    elif (original.response_code != codes.APPROVED or original.reversed or original.batch != req.batch
          or host.ledger.is_voided(original.id) or host.ledger.refunded_amount(original.id)):
        code = codes.INVALID_TRANSACTION
    elif amount != original.amount:
        code = codes.ORIGINAL_AMOUNT_WRONG
    else:
        code = codes.APPROVED
    txn = record(host, req, "void", card, pan, amount, code, original.id if original else None)
    return answer_for(host, req, txn)


def refund(host: HostProcessor, req: Request) -> Message:
    bad = precheck(host, req)
    if bad:
        return host.answer(req, bad)
    amount = req.amount
    pan, _ = _card_data(req.msg)
    rrn = req.msg.get(37)
    orig_date = ""
    if 61 in req.msg:
        try:
            orig_date = Field61.parse(req.msg[61]).orig_date
        except CodecError:
            return host.answer(req, codes.FORMAT_ERROR)
    original = host.ledger.find_by_rrn(rrn) if isinstance(rrn, str) else None
    card = host.cards.get(original.card) if original and original.card else None
    if original is None or (orig_date.strip("0") and orig_date != original.local_date):
        code = codes.ORIGINAL_NOT_FOUND
    elif pan is not None and (card is None or card.pan != pan):
        code = codes.ORIGINAL_NOT_FOUND
    elif original.response_code != codes.APPROVED or original.reversed or host.ledger.is_voided(original.id):
        code = codes.INVALID_TRANSACTION
    elif amount > original.amount - host.ledger.refunded_amount(original.id):
        code = codes.INVALID_AMOUNT
    else:
        code = codes.APPROVED
    # a wallet payer is no test card: the refund is still theirs (card `wallet:<payer>`)
    txn = record(host, req, "refund", card, pan, amount, code, original.id if original else None,
                  card_name=original.card if original else None)
    return answer_for(host, req, txn)


def reversal(host: HostProcessor, req: Request) -> Message:
    """Reverse the original (same 41, 60.2 batch, 11 trace) once; an unknown original is acknowledged."""
    reason = req.msg.get(39) or ""
    host.ledger.record_reversal(tid=req.tid, batch=req.batch, stan=req.stan, reason=str(reason),
                                now=req.now.isoformat())
    return host.answer(req, codes.APPROVED)


def batch_upload(host: HostProcessor, req: Request) -> Message:
    host.ledger.record_upload(req.tid, req.batch, req.stan, req.now.isoformat())
    return host.answer(req, codes.APPROVED)


def batch_upload_end(host: HostProcessor, req: Request) -> Message:
    count_text = req.msg.get(48) or ""
    if not (isinstance(count_text, str) and count_text[:4].isascii() and count_text[:4].isdigit()):
        return host.answer(req, codes.FORMAT_ERROR)
    host.ledger.record_upload_end(req.tid, req.batch, int(count_text[:4]), req.now.isoformat())
    return host.answer(req, codes.APPROVED, {48: count_text})
