"""Payment codes: the wallet table, what is refused and why, and the scanner's framing — a property
test over code strings (only valid payment codes are accepted), the framer under random splits and
noise, and the scanner driver against a virtual scanner on a real socat pty."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings, strategies as st

from agent.drivers.scanner import ScanFramer, Scanned, ScanProblem, Scanner, ScannerError
from agent.iso8583.dump import masked_dump, message_to_json
from agent.paycodes import WALLETS, PaymentCodeError, classify, mask_code, product_barcode

ALIPAY, WECHAT, UNIONPAY = WALLETS


def valid_by_table(code: str) -> bool:
    """The rule written out independently: digits only, a prefix of the table, a length of that wallet."""
    if not code or any(c not in "0123456789" for c in code):
        return False
    return any(code[:2] in w.prefixes and len(code) in w.lengths for w in WALLETS)


codes = st.one_of(
    st.text(alphabet="0123456789", min_size=0, max_size=32),
    st.text(min_size=0, max_size=40),
    st.builds(lambda p, rest: p + rest, st.sampled_from([p for w in WALLETS for p in w.prefixes] + ["69", "00"]),
              st.text(alphabet="0123456789", min_size=6, max_size=28)),
    st.text(alphabet="0123456789０１２３٣ -", min_size=10, max_size=26),
)


@settings(max_examples=1500, deadline=None)
@given(codes)
def test_only_valid_payment_codes_are_accepted(code):
    if valid_by_table(code):
        wallet = classify(code)
        assert code.startswith(wallet.prefixes) and len(code) in wallet.lengths
    else:
        with pytest.raises(PaymentCodeError) as info:
            classify(code)
        message = str(info.value)
        assert message.startswith("payment code:") and "\n" not in message
        if len(code) >= 13 and code.isascii() and code.isdigit():
            assert code not in message  # a refused code is never echoed in full


@pytest.mark.parametrize("code, wallet", [("281234567890123456", ALIPAY), ("2512345678901234", ALIPAY),
                                          ("301234567890123456789012", ALIPAY), ("134567890123456789", WECHAT),
                                          ("6212345678901234567", UNIONPAY)])
def test_the_wallet_table(code, wallet):
    assert classify(code) is wallet


def test_a_product_barcode_gets_its_own_message():
    assert product_barcode("6901234567892") and not product_barcode("6901234567891")
    with pytest.raises(PaymentCodeError, match=r"is a product barcode \(EAN-13\), not a payment code"):
        classify("6901234567892")
    with pytest.raises(PaymentCodeError, match="character 18 is '１'"):
        classify("28123456789012345１")


def test_codes_are_masked_like_a_pan():
    assert mask_code("281234567890123456") == "281234********3456"
    assert mask_code("1234") == "****"


# ---------------------------------------------------------------- the framer, sans-IO

@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["281234567890123456", "134567890123456789", "6212345678901234567"]),
                min_size=1, max_size=4),
       st.sampled_from([b"\r", b"\r\n", b"\n"]), st.data())
def test_codes_survive_any_split_and_noise_between_bytes(lines, terminator, data):
    stream = b"".join(line.encode() + terminator for line in lines)
    noisy = bytearray()
    for byte in stream:
        if data.draw(st.booleans(), "noise here"):
            noisy += data.draw(st.sampled_from([b"\x00", b"\xff", b"\x1b", b"\x07"]))
        noisy.append(byte)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(noisy)), max_size=6), "cuts"))
    framer, events, start = ScanFramer(partial_timeout=0.5), [], 0
    for cut in cuts + [len(noisy)]:
        events += framer.feed(bytes(noisy[start:cut]), now=0.0)
        start = cut
    assert events == [Scanned(line) for line in lines]
    assert not framer.pending


def test_partial_read_times_out_and_overlong_lines_are_refused():
    framer = ScanFramer(partial_timeout=0.5)
    assert framer.feed(b"2812345", now=10.0) == []
    assert framer.tick(now=10.4) == []
    [problem] = framer.tick(now=10.6)
    assert isinstance(problem, ScanProblem) and "partial scan: 7 characters" in problem.text
    assert framer.feed(b"281234567890123456\r", now=11.0) == [Scanned("281234567890123456")]
    [long] = framer.feed(b"1" * 200 + b"\r", now=12.0)
    assert isinstance(long, ScanProblem) and "longer than 64" in long.text


# ---------------------------------------------------------------- the driver on a real pty

@pytest.fixture
def scanner_pair(pty_pair):
    from simulator.scanner import VirtualScanner

    device = VirtualScanner(pty_pair.b)
    scanner = Scanner.open(pty_pair.a, 9600, partial_timeout=0.3)
    yield scanner, device
    scanner.close()
    device.close()


def test_scanner_reads_codes_with_cr_or_crlf_and_through_noise(scanner_pair):
    scanner, device = scanner_pair
    device.scan("281234567890123456")
    assert scanner.read_code(5) == "281234567890123456"
    device.scan("134567890123456789", terminator=b"\r\n")
    assert scanner.read_code(5) == "134567890123456789"
    device.noisy("6212345678901234567")
    assert scanner.read_code(5) == "6212345678901234567"


def test_scanner_refuses_a_partial_read_two_codes_in_one_burst_and_times_out(scanner_pair):
    scanner, device = scanner_pair
    device.partial("281234567890123456", 9)
    with pytest.raises(ScannerError, match="partial scan: 9 characters"):
        scanner.read_code(5)
    device.burst("281234567890123456", "134567890123456789")
    with pytest.raises(ScannerError, match="2 different codes in one scan"):
        scanner.read_code(5)
    device.burst("281234567890123456", "281234567890123456")  # a double read of one code is one code
    assert scanner.read_code(5) == "281234567890123456"
    started = time.monotonic()
    with pytest.raises(ScannerError, match="no code scanned within 0.3 s"):
        scanner.read_code(0.3)
    assert time.monotonic() - started < 2


def test_scanner_read_is_cancelled_promptly(scanner_pair):
    scanner, _device = scanner_pair
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    with pytest.raises(ScannerError, match="cancelled"):
        scanner.read_code(10, cancel)


def test_a_stale_scan_is_discarded_before_a_sale(scanner_pair):
    scanner, device = scanner_pair
    device.scan("281234567890123456")
    time.sleep(0.1)
    scanner.discard_input()
    device.scan("134567890123456789")
    assert scanner.read_code(5) == "134567890123456789"


def test_missing_port_is_one_clear_line():
    with pytest.raises(ScannerError, match="cannot open the scanner port /nonexistent/tty"):
        Scanner.open("/nonexistent/tty")


# ---------------------------------------------------------------- the code never shows in full

def test_logs_mask_codes_of_every_wallet_length():
    from agent.masking import mask_digit_runs

    for code in ("134567890123456789", "6212345678901234567", "281234567890123456789012"):
        line = mask_digit_runs(f"scanned {code} at the till")
        assert code not in line and code[:6] in line and code[-4:] in line


def test_the_code_field_must_be_masked_like_a_pan():
    from agent import config
    from agent.engine.wallet.messages import WalletSettings
    from agent.errors import ConfigError
    from agent.iso8583 import get_dialect

    cup = get_dialect("cup")
    WalletSettings.from_config(config.from_mapping({}), cup)  # the default: field 57, masked
    with pytest.raises(ConfigError, match="field 48 of the cup dialect is not masked like a PAN"):
        WalletSettings.from_config(config.from_mapping({"wallet": {"code_field": 48}}), cup)
    with pytest.raises(ConfigError, match="wallet.query_interval"):
        config.from_mapping({"wallet": {"query_interval": 0}})


def test_a_journaled_wallet_request_never_holds_the_code():
    from agent.engine.requests import Profile
    from agent.engine.wallet.messages import WalletSettings, wallet_sale_request
    from agent.iso8583 import get_dialect

    code = "281234567890123456"
    message = wallet_sale_request(Profile("10000001", "123456789012345"), WalletSettings(), trace=7, batch=1,
                                  amount=1000, code=code)
    cup = get_dialect("cup")
    assert cup.decode(cup.encode(message))[57] == code  # on the wire, in full, once
    assert code not in str(message_to_json(message, masked=True)) and code not in masked_dump(message)


def test_posim_wallet_refuses_unknown_payers_and_bad_confirm_in_one_line(tmp_path):
    import subprocess
    import sys

    from tests.agentproc import ROOT

    for args, words in ((["nobody"], "unknown payer 'nobody'"), (["bob", "--confirm", "soon"], "'never' or 'late'")):
        done = subprocess.run([sys.executable, "-m", "simulator.cli", "wallet", "issue", *args, "--db",
                               str(tmp_path / "h.db")], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr
