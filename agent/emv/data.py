"""EMV data as declarations: terminal data, data object lists (DOL), AFL, CVM choice, field 55 order.

Nothing here talks to a card.  The field 55 tag order of a dialect is a tuple of tags (`CUP_FIELD55`),
so another acquirer's order is another tuple, not new code.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from agent.emv.card_errors import BadCardData
from agent.emv.oda import CaKeys
from agent.tacs import ActionCodes, AidSettings, TacTable, longest_match
from agent.iso8583 import tlv
from agent.money import MAX_MINOR_UNITS

#: field 55 for the cup dialect, in the order UnionPay-style hosts read it
CUP_FIELD55: tuple[int, ...] = (
    0x9F26, 0x9F27, 0x9F10, 0x9F37, 0x9F36, 0x95, 0x9A, 0x9C, 0x9F02, 0x5F2A, 0x82, 0x9F1A,
    0x9F03, 0x9F33, 0x9F34, 0x9F35, 0x9F1E, 0x84, 0x9F09, 0x9F41, 0x9B,
)

#: tags that must never leave the card driver in field 55 (track 2 equivalent, PAN, track data)
FORBIDDEN_IN_FIELD55 = frozenset({0x57, 0x5A, 0x56, 0x9F6B, 0x9F1F, 0x5F20})

#: tags whose values are numeric (n): a DOL pads or truncates them on the left, others on the right
NUMERIC_TAGS = frozenset({0x9F02, 0x9F03, 0x9F1A, 0x5F2A, 0x9A, 0x9C, 0x9F41, 0x9F21, 0x5F36})


def bcd(digits: str, length: int) -> bytes:
    """Right-aligned packed BCD of `length` bytes: ``bcd("156", 2) == b"\\x01\\x56"``."""
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 2 * length:
        raise ValueError(f"{digits!r} does not fit {length} BCD bytes")
    return bytes.fromhex(digits.rjust(2 * length, "0"))


@dataclass(frozen=True)
class TerminalData:
    """What the terminal contributes to a chip transaction; money in minor units."""

    amount: int
    currency: str = "156"
    country: str = "156"
    date: dt.date = field(default_factory=dt.date.today)
    tx_type: int = 0x00
    unpredictable_number: bytes = b"\x00\x00\x00\x00"
    other_amount: int = 0
    tvr: bytes = bytes(5)
    capabilities: bytes = bytes.fromhex("E068C8")  # IC + magstripe + manual; online PIN, signature, no CVM; SDA/DDA/CDA
    terminal_type: int = 0x22  # attended, online with offline capability, merchant-operated
    ifd_serial: str = "10000001"  # 8 characters, usually the terminal id
    app_version: bytes = b"\x00\x30"
    sequence_counter: int = 1  # 9F41, the terminal's trace number
    pin_capable: bool = True  # a PIN pad is attached: online PIN is possible
    ca_keys: CaKeys = field(default_factory=CaKeys)  # for offline data authentication ([emv] ca_keys)
    floor_limit: int = 0  # minor units; above it the TVR says "exceeds floor limit"
    tac_denial: bytes = bytes(5)  # terminal action codes ([emv] tac_*)
    tac_online: bytes = bytes.fromhex("DC4004F800")
    tac_default: bytes = bytes.fromhex("DC4000A800")
    tacs: TacTable | None = None  # per-AID action codes ([emv] tacs); None: the three above for every AID
    offline_approvals: bool = False  # this transaction may be approved offline (a sale); else TC becomes ARQC
    #: per-AID floor limit, application version and default DDOL from a downloaded parameter set
    aid_settings: tuple[tuple[bytes, AidSettings], ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.amount <= MAX_MINOR_UNITS or not 0 <= self.other_amount <= MAX_MINOR_UNITS:
            raise ValueError(f"amounts must be 0 to {MAX_MINOR_UNITS} minor units")
        if (len(self.unpredictable_number) != 4 or len(self.tvr) != 5 or len(self.capabilities) != 3
                or not len(self.tac_denial) == len(self.tac_online) == len(self.tac_default) == 5):
            raise ValueError("unpredictable number is 4 bytes, TVR 5, terminal capabilities 3")
        if len(self.ifd_serial) != 8:
            raise ValueError("IFD serial number is 8 characters")

    def action_codes(self, aid: bytes) -> ActionCodes:
        """The terminal action codes for the application `aid` (per-AID table, else the flat codes)."""
        flat = ActionCodes(self.tac_denial, self.tac_online, self.tac_default)
        return flat if self.tacs is None else self.tacs.for_aid(aid)

    def settings_for(self, aid: bytes) -> AidSettings | None:
        """The acquirer's settings for the application `aid` (longest listed AID), if it set any."""
        return longest_match(self.aid_settings, aid)

    def floor_limit_for(self, aid: bytes) -> int:
        settings = self.settings_for(aid)
        return settings.floor_limit if settings is not None else self.floor_limit

    def tags(self) -> dict[int, bytes]:
        """The terminal's own tag values (the TVR is the one the flow updates, see `with_tvr_bits`)."""
        return {
            0x9F02: bcd(str(self.amount), 6),
            0x9F03: bcd(str(self.other_amount), 6),
            0x9F1A: bcd(self.country, 2),
            0x5F2A: bcd(self.currency, 2),
            0x95: self.tvr,
            0x9A: bcd(self.date.strftime("%y%m%d"), 3),
            0x9C: bytes([self.tx_type]),
            0x9F37: self.unpredictable_number,
            0x9F33: self.capabilities if self.pin_capable else  # no PIN pad: no online PIN
            bytes([self.capabilities[0], self.capabilities[1] & ~0x40, self.capabilities[2]]),
            0x9F35: bytes([self.terminal_type]),
            0x9F1E: self.ifd_serial.encode("ascii"),
            0x9F09: self.app_version,
            0x9F41: bcd(str(self.sequence_counter % 100_000_000), 4),
        }


def with_tvr_bits(tvr: bytes, *bits: tuple[int, int]) -> bytes:
    """Set (byte index, mask) bits in a TVR."""
    out = bytearray(tvr)
    for index, mask in bits:
        out[index] |= mask
    return bytes(out)


#: TVR bits (EMV Book 3 Annex C5) as (byte index, mask)
TVR_ODA_NOT_PERFORMED = (0, 0x80)
TVR_SDA_FAILED = (0, 0x40)
TVR_ICC_DATA_MISSING = (0, 0x20)
TVR_DDA_FAILED = (0, 0x08)
TVR_CDA_FAILED = (0, 0x04)
TVR_SDA_SELECTED = (0, 0x02)
TVR_EXPIRED_APPLICATION = (1, 0x40)
TVR_FLOOR_LIMIT_EXCEEDED = (3, 0x80)
TVR_ISSUER_AUTH_FAILED = (4, 0x40)
#: TSI bits (Annex C6), byte 1: ODA, cardholder verification, card risk management, issuer
#: authentication, terminal risk management, script processing performed
TSI_ODA, TSI_CVM, TSI_CARD_RISK, TSI_ISSUER_AUTH, TSI_TERMINAL_RISK, TSI_SCRIPT = 0x80, 0x40, 0x20, 0x10, 0x08, 0x04


def _hits(tvr: bytes, iac: bytes, tac: bytes) -> bool:
    return any(t & (i | a) for t, i, a in zip(tvr, iac, tac))


def action_analysis(tvr: bytes, *, iac_denial: bytes | None, iac_online: bytes | None, iac_default: bytes | None,
                    tac_denial: bytes, tac_online: bytes, tac_default: bytes, online_capable: bool = True) -> int:
    """Terminal action analysis (Book 3 §10.7): the cryptogram to ask for — AAC, ARQC or TC.

    A TVR bit in the issuer's or the terminal's denial code declines offline; an online-capable terminal
    goes online when a bit is in either online code, else may approve offline; a terminal that cannot go
    online approves unless a bit is in a default code. Absent IACs count as 00…00 (denial) and FF…FF
    (online, default), as the book says."""
    iac_denial = iac_denial if iac_denial and len(iac_denial) == 5 else bytes(5)
    iac_online = iac_online if iac_online and len(iac_online) == 5 else b"\xFF" * 5
    iac_default = iac_default if iac_default and len(iac_default) == 5 else b"\xFF" * 5
    if _hits(tvr, iac_denial, tac_denial):
        return 0x00  # AAC
    if online_capable:
        return 0x80 if _hits(tvr, iac_online, tac_online) else 0x40
    return 0x00 if _hits(tvr, iac_default, tac_default) else 0x40


def parse_dol(dol: bytes) -> list[tuple[int, int]]:
    """A data object list: (tag, length) pairs, tags in BER form without values."""
    try:
        return tlv.dol_items(dol)
    except ValueError as exc:
        raise BadCardData(f"DOL truncated: {exc}") from None


def dol_data(dol: list[tuple[int, int]], values: dict[int, bytes]) -> bytes:
    """Concatenated values for a DOL: missing tags are zeros; lengths are fitted per EMV Book 3 §5.4."""
    out = bytearray()
    for tag, length in dol:
        value = values.get(tag, bytes(length))
        if len(value) != length:
            if tag in NUMERIC_TAGS:
                value = value[-length:].rjust(length, b"\x00")
            else:
                value = value[:length].ljust(length, b"\x00")
        out += value
    return bytes(out)


@dataclass(frozen=True)
class AflEntry:
    sfi: int
    first: int
    last: int
    offline_auth: int


def parse_afl(afl: bytes) -> list[AflEntry]:
    if not afl or len(afl) % 4:
        raise BadCardData(f"AFL of {len(afl)} bytes is not a multiple of 4")
    entries = []
    for i in range(0, len(afl), 4):
        sfi, first, last, auth = afl[i] >> 3, afl[i + 1], afl[i + 2], afl[i + 3]
        if not 1 <= sfi <= 30 or first == 0 or last < first or auth > last - first + 1:
            raise BadCardData(f"bad AFL entry {afl[i:i + 4].hex().upper()}")
        entries.append(AflEntry(sfi, first, last, auth))
    return entries


def entry_mode_for(online_pin: bool) -> str:
    """Field 22 for a chip read: 051 when an online PIN was entered (field 52 goes along), 052 otherwise."""
    return "051" if online_pin else "052"


def fallback_entry_mode(pin_capable: bool) -> str:
    """Field 22 after a chip failure read by magnetic stripe (60.5 = 2)."""
    return "801" if pin_capable else "802"


def build_field55(values: dict[int, bytes], order: tuple[int, ...] = CUP_FIELD55,
                  extra: tuple[int, ...] = ()) -> bytes:
    """Field 55: tags of `order` that have a value, then `extra` tags not yet present, in that order."""
    seen: set[int] = set()
    items = []
    for tag in (*order, *extra):
        if tag in seen or tag not in values:
            continue
        if tag in FORBIDDEN_IN_FIELD55:
            raise ValueError(f"tag {tag:X} must never be sent in field 55")
        seen.add(tag)
        items.append(tlv.Tlv(tag, values[tag]))
    return tlv.encode(items)


def parse_generate_ac(data: bytes, *, cda: bool = False) -> dict[int, bytes]:
    """9F27, 9F36, 9F26 and 9F10 from a GENERATE AC answer in format 1 (80) or format 2 (77).

    With `cda` the AC is inside the signed dynamic data: 9F4B is returned instead of 9F26."""
    items = tlv.decode(data, field="GENERATE AC")
    if items and items[0].tag == 0x80:
        body = items[0].value
        if len(body) < 11:
            raise BadCardData("GENERATE AC format 1 too short")
        out = {0x9F27: body[:1], 0x9F36: body[1:3], 0x9F26: body[3:11]}
        if len(body) > 11:
            out[0x9F10] = body[11:]
        return out
    out = {}
    for tag in (0x9F27, 0x9F36, 0x9F26, 0x9F10, 0x9F4B):
        value = tlv.find(items, tag)
        if value is not None:
            out[tag] = value
    for tag, length in ((0x9F27, 1), (0x9F36, 2)) + (() if cda else ((0x9F26, 8),)):
        if len(out.get(tag, b"")) != length:
            raise BadCardData(f"GENERATE AC answer lacks a {length}-byte {tag:X}")
    return out
