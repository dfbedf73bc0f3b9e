"""Manual key entry of PAN and expiry: a supervisor-only path, recorded as such in field 22 (01x).

Also the rule for magnetic-stripe fallback after a chip failure (60.5 = 2, 22 = 80x).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from agent.emv.card_errors import CardError, ManualEntryRefused
from agent.errors import UsageError
from agent.masking import mask_pan


def luhn_ok(pan: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(pan)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@dataclass(frozen=True)
class KeyedCard:
    """A card typed in by a supervisor; `pan` is not shown in repr."""

    pan: str = field(repr=False)
    expiry: str  # YYMM
    entry_mode: str  # "012" (manual, no PIN) or "011" (manual, PIN pad available)

    @property
    def masked_pan(self) -> str:
        return mask_pan(self.pan)


def keyed_entry(pan: str, expiry: str, *, allowed: bool, supervisor_authorised: bool, today: dt.date,
                pin_capable: bool = False) -> KeyedCard:
    """Validate a keyed PAN + expiry (YYMM); refused unless configured and a supervisor authorised it."""
    if not allowed:
        raise ManualEntryRefused("manual entry is disabled (card_reader.manual_entry = false)")
    if not supervisor_authorised:
        raise ManualEntryRefused("manual entry needs the supervisor password")
    if not (pan.isascii() and pan.isdigit() and 13 <= len(pan) <= 19) or not luhn_ok(pan):
        raise UsageError("card number not valid — check the digits")
    if not (expiry.isascii() and expiry.isdigit() and len(expiry) == 4 and 1 <= int(expiry[2:]) <= 12):
        raise UsageError("expiry must be 4 digits YYMM, such as 3012")
    if expiry < today.strftime("%y%m"):
        raise UsageError("card expired — use another card")
    return KeyedCard(pan, expiry, "011" if pin_capable else "012")


def fallback_allowed(error: CardError, *, configured: bool) -> bool:
    """Whether the engine may read the magnetic stripe instead (60.5 = 2, 22 = 801/802)."""
    return configured and error.fallback
