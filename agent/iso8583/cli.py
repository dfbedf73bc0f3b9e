"""`posagent iso8583 decode|encode`: a thin command line over the codec.

    posagent iso8583 decode [--dialect cup|iso87] [--framed] [--unmasked] [--json] HEX|-
    posagent iso8583 encode [--dialect cup|iso87] [--framed] JSON|-

Bad input prints one line and exits 2 (the CLI's handling of `CodecError`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Mapping

from agent.errors import UsageError
from agent.iso8583.dialects import KNOWN, get_dialect
from agent.iso8583.dump import message_from_json, message_to_json
from agent.iso8583.errors import CodecError

MAX_INPUT_CHARS = 1 << 20


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    iso = sub.add_parser("iso8583", help="decode or encode ISO 8583 messages")
    iso_sub = iso.add_subparsers(dest="iso8583_command", metavar="ACTION")
    iso_sub.required = True

    decode = iso_sub.add_parser("decode", help="print a message from hex: annotated and masked, or --json")
    decode.add_argument("data", metavar="HEX", help="the message as hex (spaces allowed), or - for stdin")
    decode.add_argument("--unmasked", action="store_true",
                        help="show card data in full (PAN, tracks, PIN block, keys) — for test data only")
    decode.add_argument("--json", action="store_true", help="print a JSON object instead of the annotated dump")
    _common(decode, "input starts with the 2-byte length, then TPDU and header")
    decode.set_defaults(handler=_decode)

    encode = iso_sub.add_parser("encode", help="print the hex of a message given as JSON (decode --json's form)")
    encode.add_argument("data", metavar="JSON", help='{"mti": "0800", "fields": {...}}, or - for stdin')
    _common(encode, 'add the 2-byte length, TPDU and header (JSON keys "tpdu" and "header", hex)')
    encode.set_defaults(handler=_encode)


def _common(parser: argparse.ArgumentParser, framed_help: str) -> None:
    parser.add_argument("--dialect", default="cup", choices=sorted(KNOWN), help="message dialect (default: cup)")
    parser.add_argument("--framed", action="store_true", help=framed_help)


def _read(arg: str) -> str:
    text = sys.stdin.read(MAX_INPUT_CHARS + 1) if arg == "-" else arg
    if len(text) > MAX_INPUT_CHARS:
        raise UsageError(f"input longer than {MAX_INPUT_CHARS} characters")
    return text.strip()


def _hex(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex("".join(text.split()))
    except ValueError:
        raise UsageError(f"{what} is not hex") from None


def _decode(args: argparse.Namespace) -> int:
    dialect = get_dialect(args.dialect)
    data = _hex(_read(args.data), "input")
    frame = None
    if args.framed:
        if len(data) < 2:
            raise CodecError("framed input needs the 2-byte length", offset=0)
        announced = int.from_bytes(data[:2], "big")
        if announced != len(data) - 2:
            raise CodecError(f"length prefix says {announced} bytes, {len(data) - 2} follow", offset=0)
        frame = dialect.unpack_frame(data[2:])
        msg = frame.message
    else:
        msg = dialect.decode(data)
    if args.json:
        out: Mapping[str, object] = message_to_json(msg, masked=not args.unmasked, dialect=dialect)
        if frame is not None:
            out = {"tpdu": frame.tpdu.hex().upper(), "header": frame.header.hex().upper(), **out}
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        if frame is not None:
            print(f"TPDU {frame.tpdu.hex().upper()}  header {frame.header.hex().upper()}")
        from agent.iso8583.dump import annotated_dump

        print(annotated_dump(msg, dialect, masked=not args.unmasked))
    return 0


def _encode(args: argparse.Namespace) -> int:
    dialect = get_dialect(args.dialect)
    try:
        data = json.loads(_read(args.data))
    except json.JSONDecodeError as exc:
        raise UsageError(f"input is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    msg = message_from_json(data, dialect=dialect)
    if args.framed:
        tpdu = _hex(str(data.get("tpdu", "")), "tpdu")
        header = _hex(str(data.get("header", "")), "header")
        wire = dialect.pack_frame(msg, tpdu, header)
    else:
        wire = dialect.encode(msg)
    print(wire.hex().upper())
    return 0
