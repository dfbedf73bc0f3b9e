"""Money at the edges: decimal text in the currency's major unit ⇄ integer minor units.

Inside posagent an amount is always an `int` of minor units (fen for CNY).  Only the CLI, screens and
receipts see text, and only through these two functions.
"""

from __future__ import annotations

import re

from agent.errors import UsageError

#: field 4 is n12: the largest amount the wire can carry
MAX_MINOR_UNITS = 999_999_999_999

_AMOUNT = re.compile(r"(?P<units>[0-9]+)(?:\.(?P<fraction>[0-9]+))?")
#: a fee rate's text (a percentage, up to 4 decimals) and a fee cap's (an amount, up to 2 decimals)
_PERCENT = re.compile(r"(?P<units>[0-9]{1,2})(?:\.(?P<fraction>[0-9]{1,4}))?")
_CAP = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,2})?")
#: a rate is kept exactly, in parts per million of the amount
PPM = 1_000_000


def parse_amount(text: str, exponent: int = 2) -> int:
    """``"100.00"`` → ``10000``.  Refuses signs, spaces, thousands separators, more decimals than the
    currency has (never rounded or cut), zero, and more than field 4 carries — each in one line."""
    match = _AMOUNT.fullmatch(text) if text.isascii() else None
    if match is None:
        example = format_amount(100 * 10**exponent, exponent)
        raise UsageError(f"amount {_shown(text)!r} is not a number like {example}")
    units, fraction = match.group("units"), match.group("fraction") or ""
    if len(fraction) > exponent:
        most = f"at most {exponent} decimals, not {len(fraction)}" if exponent else "no decimals in this currency"
        raise UsageError(f"amount {_shown(text)!r}: {most} (nothing is rounded or cut)")
    digits = units.lstrip("0")  # counted before int(): a long enough string is refused, never converted
    minor = int(digits or "0") * 10**exponent + int(fraction.ljust(exponent, "0") or "0") \
        if len(digits) <= len(str(MAX_MINOR_UNITS)) else MAX_MINOR_UNITS + 1
    if minor > MAX_MINOR_UNITS:
        raise UsageError(f"amount {_shown(text)} is too large: the largest a terminal can send is "
                         f"{format_amount(MAX_MINOR_UNITS, exponent)}")
    if minor == 0:
        raise UsageError("amount must be more than zero")
    return minor


def _shown(text: str) -> str:
    """The amount as typed, shortened when it is long enough to flood the line."""
    return text if len(text) <= 24 else f"{text[:20]}… ({len(text)} characters)"


def format_amount(minor: int, exponent: int = 2) -> str:
    """``10000`` → ``"100.00"`` (negative amounts keep their sign)."""
    sign = "-" if minor < 0 else ""
    units, fraction = divmod(abs(minor), 10**exponent)
    return f"{sign}{units}.{fraction:0{exponent}d}" if exponent else f"{sign}{units}"


def percent_to_ppm(text: str) -> int:
    """``"0.6"`` → 6000 (parts per million); ValueError when not a percentage with up to 4 decimals."""
    found = _PERCENT.fullmatch(text) if isinstance(text, str) else None
    if found is None:
        raise ValueError(f"expected a percentage like 0.60 (up to 4 decimals), got {text!r}")
    ppm = int(found.group("units")) * 10_000 + int((found.group("fraction") or "").ljust(4, "0"))
    if ppm > 100 * 10_000:
        raise ValueError(f"expected a percentage from 0 to 100, got {text!r}")
    return ppm


def cap_to_minor(text: str) -> int | None:
    """``"20.00"`` → 2000; ``""`` → None (no cap)."""
    if text == "":
        return None
    if not isinstance(text, str) or not _CAP.fullmatch(text):
        raise ValueError(f"expected an amount like 20.00, or \"\" for no cap, got {text!r}")
    units, _, fraction = text.partition(".")
    return int(units) * 100 + int(fraction.ljust(2, "0") or "0")


#: ISO 4217 numeric codes (field 49) of the currencies a terminal is set up for, and their letters
CURRENCY_LETTERS = {"156": "CNY", "344": "HKD", "446": "MOP", "840": "USD", "978": "EUR", "392": "JPY",
                    "410": "KRW", "702": "SGD", "826": "GBP", "901": "TWD"}


def currency_letters(numeric: str) -> str:
    """The three letters of a numeric currency code (its digits for one not listed)."""
    return CURRENCY_LETTERS.get(str(numeric).zfill(3), str(numeric).zfill(3))


def amount_in_full(minor: int, exponent: int, currency: str) -> str:
    """``1234500`` → ``"CNY 12,345.00"``: grouped and with its currency, so an extra zero is seen at once."""
    units, point, fraction = format_amount(minor, exponent).partition(".")
    sign = "-" if units.startswith("-") else ""
    return f"{currency_letters(currency)} {sign}{int(units.lstrip('-')):,}{point}{fraction}"
