"""Wallet payment codes (the customer's one-time barcode / QR code): which wallet, and whether it is one.

The wallets are a table (prefix, digit count): public integration guides give Alipay 25–30 with 16–24
digits, WeChat Pay 10–15 with 18, UnionPay QuickPass 62 with 19.  A code is checked here before
anything is journaled or sent; what is not a payment code gets one line saying what it looks like
instead (a product barcode scanned by mistake is the common case) and never the code itself in full.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.errors import PosagentError
from agent.masking import mask_pan


@dataclass(frozen=True)
class Wallet:
    name: str  # short name used in the journal, receipts and settlement totals
    label: str  # for people
    prefixes: tuple[str, ...]
    lengths: tuple[int, ...]


#: the wallets this terminal accepts, by prefix and digit count
WALLETS: tuple[Wallet, ...] = (
    Wallet("alipay", "Alipay", tuple(str(p) for p in range(25, 31)), tuple(range(16, 25))),
    Wallet("wechat", "WeChat Pay", tuple(str(p) for p in range(10, 16)), (18,)),
    Wallet("unionpay", "UnionPay QuickPass", ("62",), (19,)),
)

#: longest code any wallet issues; a longer input is refused before it is looked at further
MAX_CODE_DIGITS = max(n for w in WALLETS for n in w.lengths)


class PaymentCodeError(PosagentError):
    """The input is not a payment code this terminal accepts; the message says what it is instead."""


def classify(code: str, wallets: tuple[Wallet, ...] = WALLETS) -> Wallet:
    """The wallet a payment code belongs to, or `PaymentCodeError` naming what is wrong."""
    if not isinstance(code, str):
        raise PaymentCodeError(f"payment code: expected a string of digits, got {type(code).__name__}")
    if not code:
        raise PaymentCodeError("payment code: empty — scan the customer's payment code")
    if len(code) > 64:
        raise PaymentCodeError(f"payment code: {len(code)} characters, expected at most {MAX_CODE_DIGITS} digits")
    for offset, char in enumerate(code):
        if not ("0" <= char <= "9"):
            raise PaymentCodeError(f"payment code: character {offset + 1} is {char!r}, expected digits only "
                                   f"(a payment code is the customer's numeric code, not a link or text)")
    if product_barcode(code):
        raise PaymentCodeError(f"payment code: {mask_code(code)} is a product barcode (EAN-{len(code)}), "
                               f"not a payment code — scan the code on the customer's phone")
    for wallet in wallets:
        if code.startswith(wallet.prefixes):
            if len(code) in wallet.lengths:
                return wallet
            want = _lengths(wallet.lengths)
            raise PaymentCodeError(f"payment code: {mask_code(code)} starts like {wallet.label} but has "
                                   f"{len(code)} digits, expected {want} — scan it again")
    raise PaymentCodeError(f"payment code: {mask_code(code)} ({len(code)} digits) is not a payment code of "
                           f"{', '.join(w.label for w in wallets)} — scan the code on the customer's phone")


def product_barcode(code: str) -> bool:
    """An EAN-13 or EAN-8 with a valid check digit (what a product scanned by mistake gives)."""
    if len(code) not in (8, 13) or not code.isascii() or not code.isdigit():
        return False
    digits = [int(c) for c in code]
    body, check = digits[:-1], digits[-1]
    weights = (1, 3) if len(code) == 13 else (3, 1)
    total = sum(d * weights[i % 2] for i, d in enumerate(body))
    return (10 - total % 10) % 10 == check


def wallet_of_masked(masked: str, wallets: tuple[Wallet, ...] = WALLETS) -> Wallet | None:
    """The wallet of a journaled (masked) code: the prefix and the length survive masking."""
    for wallet in wallets:
        if masked.startswith(wallet.prefixes) and len(masked) in wallet.lengths:
            return wallet
    return None


def mask_code(code: str) -> str:
    """Mask a code like a PAN (first 6 / last 4 at most); short input is masked whole."""
    if len(code) < 13:
        return "*" * len(code)
    return mask_pan(code)


def _lengths(lengths: tuple[int, ...]) -> str:
    if len(lengths) == 1:
        return str(lengths[0])
    if list(lengths) == list(range(lengths[0], lengths[-1] + 1)):
        return f"{lengths[0]}–{lengths[-1]}"
    return ", ".join(map(str, lengths))
