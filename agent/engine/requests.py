"""The messages the engine sends, built from journal facts, and the checks on what comes back.

Pure functions: the same inputs always give the same message, so the request journaled before sending
and the one sent are the same bytes, and a reversal can be rebuilt from the journal alone after a
crash (it never needs the PAN, track data or PIN block, which are not kept — domain §6).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.iso8583 import Message
from agent.iso8583.subfields import Field60, Field61

#: kind → (processing code F3, condition code F25, 60.1 transaction type, request MTI)
FINANCIAL_KINDS: dict[str, tuple[str, str, str, str]] = {
    "sale": ("000000", "00", "22", "0200"),
    "void": ("200000", "00", "23", "0200"),
    "refund": ("200000", "00", "25", "0220"),
}

#: fields a reversal copies from its original (never 2, 14, 35, 36, 52, 53, 55)
REVERSAL_FIELDS = (3, 4, 22, 25, 41, 42, 49, 60, 61)

#: host answers to a reversal that mean "done, nothing (more) to undo"
REVERSAL_ACKNOWLEDGED = ("00", "12", "25")


@dataclass(frozen=True)
class Profile:
    """The terminal's identity and the engine's policy, from the configuration."""

    terminal_id: str
    merchant_id: str
    currency: str = "156"
    currency_exponent: int = 2
    language: str = "en"
    key_mode: str = "003"
    reversal_retries: int = 3
    duplicate_window_seconds: int = 600
    unusual_amount_multiple: float = 10.0
    refund_repeat_seconds: int = 120
    signon_max_age_seconds: int = 24 * 3600

    @classmethod
    def from_config(cls, cfg) -> "Profile":
        return cls(terminal_id=cfg.terminal.terminal_id, merchant_id=cfg.terminal.merchant_id,
                   currency=cfg.terminal.currency, currency_exponent=cfg.terminal.currency_exponent,
                   language=cfg.terminal.language, key_mode=cfg.keys.key_mode,
                   reversal_retries=cfg.acquirer.reversal_retries,
                   duplicate_window_seconds=cfg.guards.duplicate_window_seconds,
                   unusual_amount_multiple=cfg.guards.unusual_amount_multiple,
                   refund_repeat_seconds=cfg.guards.refund_repeat_seconds,
                   signon_max_age_seconds=cfg.keys.signon_max_age_hours * 3600)

    def as_config(self) -> dict:
        """The mapping shape the network-management builders read."""
        return {"terminal": {"terminal_id": self.terminal_id, "merchant_id": self.merchant_id},
                "keys": {"key_mode": self.key_mode}}


@dataclass(frozen=True)
class CardData:
    """What the card gave for one transaction. Lives in memory only; wiped after the transaction."""

    pan: str
    expiry: str  # YYMM
    entry_mode: str  # field 22: 051/052 chip, 021/022 swipe, 801/802 fallback, 011/012 manual
    track2: str | None = None
    sequence: str | None = None  # field 23, chip only
    field55: bytes | None = None
    fallback: bool = False
    source: str = "chip"  # chip, swipe, manual, test-card

    def __repr__(self) -> str:  # never show card data in a traceback or a log
        return f"CardData(source={self.source!r}, entry_mode={self.entry_mode!r})"


def _base(profile: Profile, mti: str, trace: int) -> dict[int, str | bytes]:
    return {11: f"{trace:06d}", 41: profile.terminal_id, 42: profile.merchant_id}


def _field60(tx_type: str, batch: int, nmc: str = "000", card: CardData | None = None) -> str:
    if card is None:
        return Field60(tx_type=tx_type, batch=f"{batch:06d}", nmc=nmc).to_str()
    return Field60(tx_type=tx_type, batch=f"{batch:06d}", nmc=nmc, read_cap="5",
                   ic_cond="2" if card.fallback else "0").to_str()


def sale_request(profile: Profile, *, trace: int, batch: int, amount: int, card: CardData) -> Message:
    code, condition, tx_type, mti = FINANCIAL_KINDS["sale"]
    fields = _base(profile, mti, trace)
    fields.update({2: card.pan, 3: code, 4: f"{amount:012d}", 14: card.expiry, 22: card.entry_mode,
                   25: condition, 49: profile.currency, 60: _field60(tx_type, batch, card=card)})
    if card.track2:
        fields[35] = card.track2
    if card.sequence and card.field55 is not None:
        fields[23] = card.sequence
    if card.field55:
        fields[55] = card.field55
    return Message(mti, fields)


def void_request(profile: Profile, *, trace: int, batch: int, amount: int, original_batch: int,
                 original_trace: int, original_rrn: str | None, original_auth_code: str | None) -> Message:
    """Void of a sale in the open batch: the host finds it by 61 (batch + trace) and 37/38."""
    code, condition, tx_type, mti = FINANCIAL_KINDS["void"]
    fields = _base(profile, mti, trace)
    fields.update({3: code, 4: f"{amount:012d}", 22: "012", 25: condition, 49: profile.currency,
                   60: _field60(tx_type, batch),
                   61: Field61(orig_batch=f"{original_batch:06d}", orig_trace=f"{original_trace:06d}",
                               orig_date="0000").to_str()})
    if original_rrn:
        fields[37] = original_rrn
    if original_auth_code:
        fields[38] = original_auth_code
    return Message(mti, fields)


def refund_request(profile: Profile, *, trace: int, batch: int, amount: int, original_rrn: str | None,
                   original_date: str, original_auth_code: str | None) -> Message:
    """Refund (0220): by original RRN and date (MMDD); batch and trace of 61 are zeros (another day)."""
    code, condition, tx_type, mti = FINANCIAL_KINDS["refund"]
    fields = _base(profile, mti, trace)
    fields.update({3: code, 4: f"{amount:012d}", 22: "012", 25: condition, 49: profile.currency,
                   60: _field60(tx_type, batch),
                   61: Field61(orig_batch="000000", orig_trace="000000", orig_date=original_date).to_str()})
    if original_rrn:
        fields[37] = original_rrn
    if original_auth_code:
        fields[38] = original_auth_code
    return Message(mti, fields)


def reversal_request(original: Message, *, reason: str, repeat: bool) -> Message:
    """0400 (0401 when repeated) from the original request: its trace in 11, the reason in 39."""
    fields: dict[int, str | bytes] = {n: original[n] for n in REVERSAL_FIELDS if n in original}
    fields[11] = original[11]
    fields[39] = reason
    return Message("0401" if repeat else "0400", fields)


@dataclass(frozen=True)
class Verdict:
    """What a host answer means for a request: valid or not, and why not."""

    valid: bool
    reason: str = ""  # reversal reason when not valid: "A0" MAC failure, "06" anything else
    problem: str = ""  # what was wrong, for the journal and the technician


def check_response(request: Message, response: Message, *, mac_valid: bool | None) -> Verdict:
    """Domain §4: MTI + 10; same 3, 11, 41, 42 and 4; MAC verified when 39 = 00."""
    if response.mti != request.response_mti:
        return Verdict(False, "06", f"answer MTI {response.mti}, expected {request.response_mti}")
    for number in (3, 11, 41, 42, 4):
        if number in request and response.get(number) != request[number]:
            return Verdict(False, "06", f"answer field {number} is {response.get(number)!r}, "
                                        f"expected {request[number]!r}")
    code = response.get(39)
    if not isinstance(code, str) or len(code) != 2:
        return Verdict(False, "06", "answer has no response code (field 39)")
    if code == "00" and mac_valid is False:
        return Verdict(False, "A0", "answer MAC does not verify")
    return Verdict(True)
