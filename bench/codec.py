"""Codec benchmark: encode and decode of a full 0200 sale, posagent's `iso87` dialect against pyiso8583.

    .venv/bin/python -m bench.codec [--seconds 0.5] [--repeat 5]

The message has fields 2, 3, 4, 11, 12, 13, 14, 22, 25, 35, 37, 41, 42, 49, 52, 55 (about 100 bytes of
EMV data) and 64.  Both codecs get the same message in the same run; pyiso8583 uses its default spec
(byte-identical output, checked before timing).  A ratio is pyiso8583's time / posagent's time
(target >= 2).  The `cup` dialect's figures are printed too.  Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import timeit

import iso8583
from iso8583.specs import default as PYISO_DEFAULT

from agent.iso8583 import Message, get_dialect
from agent.iso8583 import tlv
from agent.iso8583.tlv import Tlv

PAN = "6226090000000048"
ICC = tlv.encode([
    Tlv(0x9F26, bytes.fromhex("1122334455667788")), Tlv(0x9F27, b"\x80"),
    Tlv(0x9F10, bytes.fromhex("07010103A0A000010A0100000000004F2E6F7B")), Tlv(0x9F37, bytes.fromhex("1A2B3C4D")),
    Tlv(0x9F36, b"\x00\x2A"), Tlv(0x95, bytes(5)), Tlv(0x9A, bytes.fromhex("251123")), Tlv(0x9C, b"\x00"),
    Tlv(0x9F02, bytes.fromhex("000000010000")), Tlv(0x5F2A, bytes.fromhex("0156")), Tlv(0x82, b"\x7C\x00"),
    Tlv(0x9F1A, bytes.fromhex("0156")), Tlv(0x9F03, bytes(6)), Tlv(0x9F33, bytes.fromhex("E0E1C8")),
    Tlv(0x9F34, bytes.fromhex("420300")), Tlv(0x9F35, b"\x22"),
])
SALE = Message("0200", {
    2: PAN, 3: "000000", 4: "000000010000", 11: "000123", 12: "101530", 13: "1123", 14: "3012", 22: "051",
    25: "00", 35: PAN + "=30122200000000000", 37: "123456789012", 41: "10000001", 42: "123456789012345",
    49: "156", 52: bytes.fromhex("0412AC89ABCDEF67"), 55: ICC, 64: bytes.fromhex("E267B6E200000000"),
})


def _pyiso_doc(msg: Message) -> dict:
    doc = {"t": msg.mti}
    for number, value in msg.fields.items():
        doc[str(number)] = value.hex().upper() if isinstance(value, bytes) else value
    return doc


def _best_us(func, seconds: float, repeat: int) -> float:
    timer = timeit.Timer(func)
    number, _ = timer.autorange()
    number = max(1, int(number * seconds / 0.2))
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement (default 0.5)")
    parser.add_argument("--repeat", type=int, default=5, help="measurements per figure; the best is kept")
    args = parser.parse_args()

    iso87, cup = get_dialect("iso87"), get_dialect("cup")
    doc = _pyiso_doc(SALE)
    ours = iso87.encode(SALE)
    theirs, _ = iso8583.encode(dict(doc), PYISO_DEFAULT)
    if bytes(theirs) != ours:
        raise SystemExit("bench.codec: pyiso8583 and posagent disagree on the sale's bytes")
    assert iso87.decode(ours) == SALE and cup.decode(cup.encode(SALE)) == SALE
    cup_wire = cup.encode(SALE)

    figures = {
        "pyiso8583_encode_us": _best_us(lambda: iso8583.encode(dict(doc), PYISO_DEFAULT), args.seconds, args.repeat),
        "pyiso8583_decode_us": _best_us(lambda: iso8583.decode(bytearray(ours), PYISO_DEFAULT), args.seconds,
                                        args.repeat),
        "iso87_encode_us": _best_us(lambda: iso87.encode(SALE), args.seconds, args.repeat),
        "iso87_decode_us": _best_us(lambda: iso87.decode(ours), args.seconds, args.repeat),
        "cup_encode_us": _best_us(lambda: cup.encode(SALE), args.seconds, args.repeat),
        "cup_decode_us": _best_us(lambda: cup.decode(cup_wire), args.seconds, args.repeat),
    }
    encode_ratio = figures["pyiso8583_encode_us"] / figures["iso87_encode_us"]
    decode_ratio = figures["pyiso8583_decode_us"] / figures["iso87_decode_us"]
    print(f"full 0200 sale, {len(SALE.fields)} fields, {len(ICC)} bytes of EMV data; "
          f"iso87 {len(ours)} bytes, cup {len(cup_wire)} bytes")
    print(f"{'':24}{'encode µs':>12}{'decode µs':>12}")
    print(f"{'pyiso8583 (default)':24}{figures['pyiso8583_encode_us']:>12.2f}{figures['pyiso8583_decode_us']:>12.2f}")
    print(f"{'posagent iso87':24}{figures['iso87_encode_us']:>12.2f}{figures['iso87_decode_us']:>12.2f}")
    print(f"{'posagent cup':24}{figures['cup_encode_us']:>12.2f}{figures['cup_decode_us']:>12.2f}")
    print(f"posagent iso87 vs pyiso8583: encode {encode_ratio:.2f}x, decode {decode_ratio:.2f}x faster (target >= 2)")
    print(json.dumps({"bench": "codec", "encode_ratio": round(encode_ratio, 2), "decode_ratio": round(decode_ratio, 2),
                      **{k: round(v, 2) for k, v in figures.items()}, "iso87_bytes": len(ours),
                      "cup_bytes": len(cup_wire)}))


if __name__ == "__main__":
    main()
