"""The byte scan of the terminal's disk: no test card's number or track data, and no payment code issued to a
customer, in the journal, its WAL, the logs or an export (the `card_data` rule).

Apart from `simulator.chaos.checker`, which compares the bank's ledger with the journal: this reads files
as bytes and knows nothing of either.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from simulator.chaos.violation import Violation
from simulator.testcards import load_cards


def forbidden_card_bytes() -> dict[str, bytes]:
    """Every test card's PAN (ASCII, packed BCD, UTF-16) and track 2 (= and D separators)."""
    patterns: dict[str, bytes] = {}
    for card in load_cards().values():
        patterns[f"{card.name} PAN"] = card.pan.encode()
        patterns[f"{card.name} PAN as BCD"] = bytes.fromhex(card.pan if len(card.pan) % 2 == 0 else card.pan + "F")
        patterns[f"{card.name} PAN in UTF-16"] = card.pan.encode("utf-16-le")
        patterns[f"{card.name} track 2"] = card.track2.encode()
        patterns[f"{card.name} track 2 (D separator)"] = card.track2.replace("=", "D").encode()
    return patterns


def scan_for_card_data(files: list[Path]) -> list[Violation]:
    patterns = forbidden_card_bytes()
    found = []
    for path in files:
        data = path.read_bytes()
        for what, needle in patterns.items():
            if needle in data:
                found.append(Violation("card_data", f"{what} found in {path.name} at offset {data.index(needle)}"))
    return found


def scan_for_codes(files: list[Path], codes: Iterable[str]) -> list[Violation]:
    """Payment codes are one-time credentials: none issued to a customer may be on disk in full."""
    issued = set(codes)
    if not issued:
        return []
    lengths = sorted({len(c) for c in issued})
    found = []
    for path in files:
        data = path.read_bytes()
        for match in re.finditer(rb"[0-9]{%d,}" % lengths[0], data):  # every run of digits long enough
            run = match.group().decode()
            hit = next((run[i:i + n] for n in lengths for i in range(len(run) - n + 1) if run[i:i + n] in issued),
                       None)
            if hit is not None:
                found.append(Violation("card_data", f"a payment code ({hit[:6]}…{hit[-4:]}) found in {path.name} "
                                                    f"at offset {match.start() + run.index(hit)}"))
    return found
