"""`posagent iso8583 decode|encode`: dumps, JSON both ways, framing, one-line errors with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agent.cli import main
from agent.iso8583 import Message, get_dialect

PAN = "6226090000000048"
SALE = Message("0200", {2: PAN, 3: "000000", 4: "000000010000", 11: "000123", 22: "051", 25: "00",
                        35: PAN + "=30122200000000000", 41: "10000001", 42: "123456789012345", 49: "156",
                        52: bytes.fromhex("0412AC89ABCDEF67"), 60: "22000001000", 63: "CUP交易成功", 64: bytes(8)})
CUP_HEX = get_dialect("cup").encode(SALE).hex().upper()


def run(capsys, *argv, stdin=None, monkeypatch=None):
    if stdin is not None:
        import io
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    status = main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


def test_decode_prints_a_masked_annotated_dump(capsys):
    status, out, _ = run(capsys, "iso8583", "decode", CUP_HEX)
    assert status == 0 and "622609******0048" in out and "Processing code" in out and "CUP交易成功" in out
    assert PAN not in out and "0412AC89ABCDEF67" not in out


def test_decode_unmasked_dump_shows_card_data_for_test_work(capsys):
    status, out, _ = run(capsys, "iso8583", "decode", "--unmasked", CUP_HEX)
    assert status == 0 and PAN in out and "0412AC89ABCDEF67" in out and "Primary account number" in out


def test_decode_json_masked_and_unmasked(capsys):
    _, out, _ = run(capsys, "iso8583", "decode", "--json", CUP_HEX)
    masked = json.loads(out)
    assert masked["mti"] == "0200" and masked["fields"]["2"] == "622609******0048" and PAN not in out
    assert masked["subfields"]["60"]["tx_type"] == "22"
    _, out, _ = run(capsys, "iso8583", "decode", "--json", "--unmasked", CUP_HEX)
    plain = json.loads(out)
    assert plain["fields"]["2"] == PAN and plain["fields"]["52"] == "0412AC89ABCDEF67"


def test_encode_is_the_inverse_of_decode_json(capsys, monkeypatch):
    for dialect in ("cup", "iso87"):
        msg = SALE if dialect == "cup" else SALE.without(63)  # iso87's 63 is ASCII
        wire = get_dialect(dialect).encode(msg).hex().upper()
        _, out, _ = run(capsys, "iso8583", "decode", "--dialect", dialect, "--json", "--unmasked", wire)
        status, hex_out, _ = run(capsys, "iso8583", "encode", "--dialect", dialect, "-", stdin=out,
                                 monkeypatch=monkeypatch)
        assert status == 0 and hex_out.strip() == wire


def test_framed_round_trip(capsys, monkeypatch):
    framed = get_dialect("cup").pack_frame(SALE, bytes.fromhex("6000030000"), bytes.fromhex("613100000000"))
    _, out, _ = run(capsys, "iso8583", "decode", "--framed", "--json", "--unmasked", framed.hex())
    doc = json.loads(out)
    assert doc["tpdu"] == "6000030000" and doc["header"] == "613100000000"
    _, hex_out, _ = run(capsys, "iso8583", "encode", "--framed", json.dumps(doc))
    assert hex_out.strip() == framed.hex().upper()


@pytest.mark.parametrize("argv, words", [
    (["decode", CUP_HEX + "00"], "trailing bytes"),
    (["decode", CUP_HEX[:-6]], "field 64"),
    (["decode", "zz"], "not hex"),
    (["decode", "--framed", "0005" + "60000300"], "length prefix says 5"),
    (["encode", "{not json"], "not JSON"),
    (["encode", '{"mti": "0200", "fields": {"4": "12"}}'], "field 4: needs exactly 12 digits"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, words):
    status, out, err = run(capsys, "iso8583", *argv)
    assert status == 2 and out == "" and words in err and err.count("\n") == 1


def test_the_installed_command_never_shows_a_traceback():
    proc = subprocess.run([sys.executable, "-m", "agent", "iso8583", "decode", "0200" + "FF" * 8],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.startswith("posagent: ")
