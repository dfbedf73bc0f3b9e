"""Masking of card data for display, logs and exports (PCI DSS: first 6 / last 4 at most)."""

from __future__ import annotations

import re

#: 13–19 digits is a PAN; up to 24 is a wallet payment code (masked the same way)
_DIGIT_RUN = re.compile(r"(?<![0-9])[0-9]{13,24}(?![0-9])")


def mask_pan(pan: str) -> str:
    """``6226090000000048`` → ``622609******0048``; short or odd input is masked whole."""
    if len(pan) < 13 or not pan.isascii() or not pan.isdigit():
        return "*" * len(pan)
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def mask_card_number(text: str) -> str:
    """A value that holds a card number or a payment code (ISO field 2, EMV tag 5A): its digits (a BCD pad
    ``F`` dropped) as `mask_pan` shows them; anything else (already masked, a marker) with its digit runs masked."""
    digits = text.rstrip("Ff")
    if digits and digits.isascii() and digits.isdigit():
        return mask_pan(digits)
    return mask_digit_runs(text)


def mask_digit_runs(text: str) -> str:
    """Mask every run of 13–24 ASCII digits in `text` as a PAN (or a wallet payment code)."""
    return _DIGIT_RUN.sub(lambda m: mask_pan(m.group(0)), text)
