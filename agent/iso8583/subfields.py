"""Typed views of the structured fields of the `cup` dialect: 60, 61, 48, 62, 63 (and 55 via `tlv`).

Each view is a frozen dataclass that checks its parts, with `to_str()` (or `build`) producing the
field value and `parse` reading one back; bad input is a `CodecError` naming the subfield.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from agent.iso8583.errors import CodecError

#: field 62 layouts by sign-on mode (60.3): (key length, number of keys); see domain notes §3, §5
KEY_LAYOUTS = {"001": (8, 2), "003": (16, 2), "004": (16, 3)}
CHECK_VALUE_LEN = 4


def _digits(value: object, width: int, name: str) -> str:
    if type(value) is not str or len(value) != width or not (value.isascii() and value.isdigit()):
        raise CodecError(f"must be {width} digits, got {value!r}", field=name)
    return value


@dataclass(frozen=True)
class Field60:
    """60.1 transaction type n2, 60.2 batch n6, 60.3 network-management code n3, 60.4 read capability n1,
    60.5 IC condition n1 (60.4/60.5 optional; 60.5 needs 60.4); `extra` keeps any further digits."""

    tx_type: str
    batch: str
    nmc: str = "000"
    read_cap: str | None = None
    ic_cond: str | None = None
    extra: str = ""

    def __post_init__(self) -> None:
        _digits(self.tx_type, 2, "60.1")
        _digits(self.batch, 6, "60.2")
        _digits(self.nmc, 3, "60.3")
        if self.read_cap is not None:
            _digits(self.read_cap, 1, "60.4")
        if self.ic_cond is not None:
            if self.read_cap is None:
                raise CodecError("60.5 needs 60.4", field="60.5")
            _digits(self.ic_cond, 1, "60.5")
        if self.extra and (self.ic_cond is None or not (self.extra.isascii() and self.extra.isdigit())):
            raise CodecError("digits after 60.5 need 60.4 and 60.5", field="60")

    def to_str(self) -> str:
        return self.tx_type + self.batch + self.nmc + (self.read_cap or "") + (self.ic_cond or "") + self.extra

    @classmethod
    def parse(cls, value: object) -> "Field60":
        if type(value) is not str or len(value) < 11 or not (value.isascii() and value.isdigit()):
            raise CodecError(f"needs at least 11 digits, got {value!r}", field="60")
        return cls(value[0:2], value[2:8], value[8:11], value[11:12] or None, value[12:13] or None, value[13:])


@dataclass(frozen=True)
class Field61:
    """Original transaction: batch n6 + trace n6 + date MMDD n4 (refunds: zeros for batch and trace)."""

    orig_batch: str
    orig_trace: str
    orig_date: str = ""
    extra: str = ""

    def __post_init__(self) -> None:
        _digits(self.orig_batch, 6, "61.1")
        _digits(self.orig_trace, 6, "61.2")
        if self.orig_date:
            _digits(self.orig_date, 4, "61.3")
        if self.extra and not self.orig_date:
            raise CodecError("data after 61.2 needs 61.3", field="61")

    def to_str(self) -> str:
        return self.orig_batch + self.orig_trace + self.orig_date + self.extra

    @classmethod
    def parse(cls, value: object) -> "Field61":
        if type(value) is not str or (len(value) != 12 and len(value) < 16):
            raise CodecError(f"needs 12 or at least 16 digits, got {value!r}", field="61")
        return cls(value[0:6], value[6:12], value[12:16], value[16:])


@dataclass(frozen=True)
class SettlementTotals:
    """One settlement group of field 48: debit amount n12, count n3, credit amount n12, count n3, flag n1."""

    debit_amount: int
    debit_count: int
    credit_amount: int
    credit_count: int
    flag: str = "0"

    WIDTH = 31

    def __post_init__(self) -> None:
        for name, value, limit in (("debit_amount", self.debit_amount, 10 ** 12), ("debit_count", self.debit_count, 1000),
                                   ("credit_amount", self.credit_amount, 10 ** 12),
                                   ("credit_count", self.credit_count, 1000)):
            if type(value) is not int or not 0 <= value < limit:
                raise CodecError(f"{name} must be an integer 0..{limit - 1}, got {value!r}", field="48")
        _digits(self.flag, 1, "48")

    def to_str(self) -> str:
        return (f"{self.debit_amount:012d}{self.debit_count:03d}{self.credit_amount:012d}"
                f"{self.credit_count:03d}{self.flag}")

    @classmethod
    def parse(cls, value: object) -> "SettlementTotals":
        value = _digits(value, cls.WIDTH, "48")
        return cls(int(value[0:12]), int(value[12:15]), int(value[15:27]), int(value[27:30]), value[30])


@dataclass(frozen=True)
class Field48Request:
    """Settlement request totals: domestic cards, then foreign cards (62 digits)."""

    domestic: SettlementTotals
    foreign: SettlementTotals

    def to_str(self) -> str:
        return self.domestic.to_str() + self.foreign.to_str()

    @classmethod
    def parse(cls, value: object) -> "Field48Request":
        value = _digits(value, 62, "48")
        return cls(SettlementTotals.parse(value[:31]), SettlementTotals.parse(value[31:]))


SETTLEMENT_RESULTS = {"1": "balanced", "2": "unbalanced", "3": "error"}


def settlement_result(field48_response: object) -> tuple[str, str]:
    """(domestic, foreign) result codes from positions 31 and 62 of the response's field 48."""
    if type(field48_response) is not str or len(field48_response) < 62:
        raise CodecError("settlement response needs 62 characters", field="48")
    codes = (field48_response[30], field48_response[61])
    for code in codes:
        if code not in SETTLEMENT_RESULTS:
            raise CodecError(f"settlement result {code!r} is not 1, 2 or 3", field="48")
    return codes


class Field62Keys:
    """Working keys of a sign-on response: (encrypted key, 4-byte check value) pairs, per key layout."""

    @staticmethod
    def parse(data: object, key_mode: str,
              layouts: Mapping[str, tuple[int, int]] | None = None) -> list[tuple[bytes, bytes]]:
        layout = (layouts or KEY_LAYOUTS).get(key_mode)
        if layout is None:
            raise CodecError(f"unknown key mode {key_mode!r}: known {', '.join(sorted(layouts or KEY_LAYOUTS))}",
                             field="62")
        key_len, count = layout
        step = key_len + CHECK_VALUE_LEN
        if type(data) is not bytes or len(data) != step * count:
            raise CodecError(f"key mode {key_mode} needs {step * count} bytes, got "
                             f"{len(data) if isinstance(data, bytes) else type(data).__name__}", field="62")
        return [(data[i:i + key_len], data[i + key_len:i + step]) for i in range(0, len(data), step)]

    @staticmethod
    def build(pairs: Iterable[tuple[bytes, bytes]]) -> bytes:
        out = bytearray()
        for encrypted, check in pairs:
            if len(encrypted) not in (8, 16, 24) or len(check) != CHECK_VALUE_LEN:
                raise CodecError("each key is 8/16/24 bytes with a 4-byte check value", field="62")
            out += encrypted + check
        return bytes(out)


@dataclass(frozen=True)
class Field63:
    """Card organisation (3 characters, e.g. CUP) + host text (GB18030 on the wire)."""

    card_org: str
    text: str = ""

    def __post_init__(self) -> None:
        if type(self.card_org) is not str or len(self.card_org) != 3 or not self.card_org.isascii():
            raise CodecError(f"card organisation must be 3 ASCII characters, got {self.card_org!r}", field="63.1")

    def to_str(self) -> str:
        return self.card_org + self.text

    @classmethod
    def parse(cls, value: object) -> "Field63":
        if type(value) is not str or len(value) < 3:
            raise CodecError("needs a 3-character card organisation", field="63")
        return cls(value[:3], value[3:])


#: common EMV tags of field 55 by name (tag -> (name, kind)); kind "n" values are BCD digits
EMV_TAGS = {
    0x4F: ("AID", "b"), 0x50: ("Application label", "ans"), 0x56: ("Track 1 data", "secret"),
    0x57: ("Track 2 equivalent data", "secret"), 0x5A: ("PAN", "pan"), 0x5F20: ("Cardholder name", "secret"),
    0x5F24: ("Expiry date", "secret"), 0x5F2A: ("Transaction currency code", "n"), 0x5F34: ("PAN sequence number", "n"),
    0x82: ("Application interchange profile", "b"), 0x84: ("Dedicated file name", "b"),
    0x91: ("Issuer authentication data", "b"), 0x95: ("Terminal verification results", "b"),
    0x9A: ("Transaction date", "n"), 0x9C: ("Transaction type", "n"), 0x9F02: ("Amount, authorised", "n"),
    0x9F03: ("Amount, other", "n"), 0x9F09: ("Application version", "b"), 0x9F10: ("Issuer application data", "b"),
    0x9F1A: ("Terminal country code", "n"), 0x9F1E: ("IFD serial number", "ans"),
    0x9F1F: ("Track 1 discretionary data", "secret"), 0x9F20: ("Track 2 discretionary data", "secret"),
    0x9F26: ("Application cryptogram", "b"), 0x9F27: ("Cryptogram information data", "b"),
    0x9F33: ("Terminal capabilities", "b"), 0x9F34: ("CVM results", "b"), 0x9F35: ("Terminal type", "n"),
    0x9F36: ("Application transaction counter", "b"), 0x9F37: ("Unpredictable number", "b"),
    0x9F41: ("Transaction sequence counter", "n"), 0x9F6B: ("Track 2 data (contactless)", "secret"),
    0x8A: ("Authorisation response code", "ans"), 0x71: ("Issuer script template 1", "b"),
    0x72: ("Issuer script template 2", "b"), 0x9B: ("Transaction status information", "b"),
}


@dataclass(frozen=True)
class IccData:
    """A typed view of the common field 55 tags (None when absent); amounts are integers (minor units)."""

    cryptogram: bytes | None = None
    cryptogram_info: bytes | None = None
    atc: bytes | None = None
    tvr: bytes | None = None
    unpredictable_number: bytes | None = None
    amount: int | None = None
    amount_other: int | None = None
    currency: str | None = None
    country: str | None = None
    date: str | None = None
    issuer_app_data: bytes | None = None
    issuer_auth_data: bytes | None = None

    @classmethod
    def parse(cls, data: bytes) -> "IccData":
        from agent.iso8583 import tlv

        values = {item.tag: item.value for item in tlv.decode(data, field="55")}

        def digits(tag: int, strip: bool = False) -> str | None:
            raw = values.get(tag)
            if raw is None:
                return None
            text = raw.hex()
            if not text.isdigit():
                raise CodecError(f"tag {tag:X} is not BCD digits", field=f"55.{tag:X}")
            return text[1:] if strip and len(text) == 4 else text

        amount, other = digits(0x9F02), digits(0x9F03)
        return cls(values.get(0x9F26), values.get(0x9F27), values.get(0x9F36), values.get(0x95),
                   values.get(0x9F37), None if amount is None else int(amount),
                   None if other is None else int(other), digits(0x5F2A, True), digits(0x9F1A, True),
                   digits(0x9A), values.get(0x9F10), values.get(0x91))
