"""The `iso87` dialect: ISO 8583:1987 with ASCII fields, ASCII length prefixes and a binary bitmap.

This is the layout widely used Python and Java codecs ship as their default (pyiso8583's
`iso8583.specs.default`): every numeric and text field in ASCII, LL/LLL prefixes as ASCII digits,
binary primary and secondary bitmaps, and binary 52, 55 (max 255 bytes), 64, 96 and 128.
Unlike that codec, this one checks character classes (n digits, an letters/digits/space).  Bit 65
announces a tertiary bitmap there; tertiary bitmaps are not supported here, so bit 65 is refused.
"""

from agent.iso8583.dialect import Dialect, FieldSpec as F, FrameSpec, TcUploadSpec
from agent.iso8583.fields import AsciiDigits as N, Binary as B, LengthPrefix, Text

LL = LengthPrefix(2, "ascii")
LLL = LengthPrefix(3, "ascii")


def an(length: int, prefix: LengthPrefix | None = None) -> Text:
    return Text(length, kind="an", prefix=prefix)


def ans(length: int, prefix: LengthPrefix | None = None) -> Text:
    return Text(length, kind="ans", prefix=prefix)


FIELDS = {
    2: F("Primary account number", N(19, prefix=LL), "pan"),
    3: F("Processing code", N(6)),
    4: F("Amount, transaction", N(12)),
    5: F("Amount, settlement", N(12)),
    6: F("Amount, cardholder billing", N(12)),
    7: F("Transmission date and time", N(10)),
    8: F("Amount, cardholder billing fee", N(8)),
    9: F("Conversion rate, settlement", N(8)),
    10: F("Conversion rate, cardholder billing", N(8)),
    11: F("System trace audit number", N(6)),
    12: F("Time, local transaction", N(6)),
    13: F("Date, local transaction", N(4)),
    14: F("Date, expiration", N(4), "hide"),
    15: F("Date, settlement", N(4)),
    16: F("Date, conversion", N(4)),
    17: F("Date, capture", N(4)),
    18: F("Merchant type", N(4)),
    19: F("Acquiring institution country code", N(3)),
    20: F("PAN extended country code", N(3)),
    21: F("Forwarding institution country code", N(3)),
    22: F("POS entry mode", N(3)),
    23: F("Card sequence number", N(3)),
    24: F("Network international ID", N(3)),
    25: F("POS condition code", N(2)),
    26: F("POS PIN capture code", N(2)),
    27: F("Authorisation ID response length", N(1)),
    28: F("Amount, transaction fee (x+n 8)", an(9)),
    29: F("Amount, settlement fee (x+n 8)", an(9)),
    30: F("Amount, transaction processing fee (x+n 8)", an(9)),
    31: F("Amount, settlement processing fee (x+n 8)", an(9)),
    32: F("Acquiring institution ID", N(11, prefix=LL)),
    33: F("Forwarding institution ID", N(11, prefix=LL)),
    34: F("Primary account number, extended", ans(28, LL), "pan"),
    35: F("Track 2 data", N(37, prefix=LL, track=True), "hide"),
    36: F("Track 3 data", ans(104, LLL), "hide"),
    37: F("Retrieval reference number", an(12)),
    38: F("Authorisation code", an(6)),
    39: F("Response code", an(2)),
    40: F("Service restriction code", an(3)),
    41: F("Terminal ID", ans(8)),
    42: F("Merchant ID", ans(15)),
    43: F("Card acceptor name/location", ans(40)),
    44: F("Additional response data", ans(25, LL)),
    45: F("Track 1 data", ans(76, LL), "hide"),
    46: F("Additional data, ISO", ans(999, LLL)),
    47: F("Additional data, national", ans(999, LLL)),
    48: F("Additional data, private", ans(999, LLL)),
    49: F("Currency code, transaction", an(3)),
    50: F("Currency code, settlement", an(3)),
    51: F("Currency code, cardholder billing", an(3)),
    52: F("PIN block", B(8), "hide"),
    53: F("Security control information", N(16)),
    54: F("Additional amounts", ans(240, LLL)),
    55: F("ICC data", B(255, prefix=LLL), "tlv"),
    **{n: F("Reserved", ans(999, LLL)) for n in range(56, 64)},
    64: F("MAC", B(8)),
    66: F("Settlement code", N(1)),
    67: F("Extended payment code", N(2)),
    68: F("Receiving institution country code", N(3)),
    69: F("Settlement institution country code", N(3)),
    70: F("Network management information code", N(3)),
    71: F("Message number", N(4)),
    72: F("Message number, last", N(4)),
    73: F("Date, action", N(6)),
    **{n: F("Count", N(10)) for n in range(74, 82)},
    **{n: F("Fee amount", N(12)) for n in range(82, 86)},
    **{n: F("Amount", N(16)) for n in range(86, 90)},
    90: F("Original data elements", N(42)),
    91: F("File update code", an(1)),
    92: F("File security code", an(2)),
    93: F("Response indicator", an(5)),
    94: F("Service indicator", an(7)),
    95: F("Replacement amounts", an(42)),
    96: F("Message security code", B(8)),
    97: F("Amount, net settlement (x+n 16)", an(17)),
    98: F("Payee", ans(25)),
    99: F("Settlement institution ID", N(11, prefix=LL)),
    100: F("Receiving institution ID", N(11, prefix=LL)),
    101: F("File name", ans(17, LL)),
    102: F("Account ID 1", ans(28, LL)),
    103: F("Account ID 2", ans(28, LL)),
    104: F("Transaction description", ans(100, LLL)),
    **{n: F("Reserved", ans(999, LLL)) for n in range(105, 128)},
    128: F("MAC", B(8)),
}

DIALECT = Dialect(
    name="iso87",
    description="ISO 8583:1987, ASCII fields and prefixes, binary bitmap (pyiso8583's default spec)",
    mti="ascii",
    bitmap="binary",
    fields=FIELDS,
    mac_algorithm="x9.19",
    mac_classes="124",
    frame=FrameSpec(tpdu_len=0, header_len=0, tpdu_id=None, max_frame=16384),
    structured={55: "tlv"},
    # ISO 8583:1987 repeats: the origin digit + 1 (0400 → 0401, 0220 → 0221)
    repeats={"0400": "0401", "0220": "0221"},
    tc_upload=TcUploadSpec(mti="0320", tx_type="00", nmc="203"),
)
