"""Money at the edges: decimal text in the currency's major unit ⇄ integer minor units.

Inside posagent an amount is always an `int` of minor units (fen for CNY).  Only the CLI, screens and
receipts see text, and only through these two functions.
"""

from __future__ import annotations

import re

from agent.errors import UsageError

#: field 4 is n12: the largest amount the wire can carry
MAX_MINOR_UNITS = 999_999_999_999

_AMOUNT = re.compile(r"(?P<units>[0-9]{1,12})(?:\.(?P<fraction>[0-9]{1,3}))?")


def parse_amount(text: str, exponent: int = 2) -> int:
    """``"100.00"`` → ``10000``.  Refuses signs, spaces, thousands separators, too many decimals, zero."""
    match = _AMOUNT.fullmatch(text) if text.isascii() else None
    if match is None:
        raise UsageError(f"amount {text!r} is not a number like 100.00")
    fraction = match.group("fraction") or ""
    if len(fraction) > exponent:
        raise UsageError(f"amount {text!r} has more than {exponent} digits after the point")
    minor = int(match.group("units")) * 10**exponent + int(fraction.ljust(exponent, "0") or "0")
    if minor == 0:
        raise UsageError("amount must be more than zero")
    if minor > MAX_MINOR_UNITS:
        raise UsageError(f"amount {text} is larger than a terminal can send")
    return minor


def format_amount(minor: int, exponent: int = 2) -> str:
    """``10000`` → ``"100.00"`` (negative amounts keep their sign)."""
    sign = "-" if minor < 0 else ""
    units, fraction = divmod(abs(minor), 10**exponent)
    return f"{sign}{units}.{fraction:0{exponent}d}" if exponent else f"{sign}{units}"
