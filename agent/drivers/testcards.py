"""Named test cards read as swipes: the card file the configuration names (`[card_reader] test_cards`).

A test card stands in for the card reader (`--card NAME`) in development, CI and demonstrations.  The
file is TOML with one `[[card]]` table per card; the terminal reads `name`, `pan`, `expiry` (YYMM) and
`service_code` and ignores other keys (the acquirer simulator keeps its issuer keys and balances in the
same file).  Every problem is one line naming the file, the line and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from agent.config import read_toml_text
from agent.errors import ConfigError

#: the most cards one file may hold (a limit checked before anything is built)
MAX_CARDS = 1000
_HEADER = re.compile(r"\s*\[\[\s*card\s*\]\]")
_ANY_HEADER = re.compile(r"\s*\[")


@dataclass(frozen=True)
class TestCard:
    name: str
    pan: str
    expiry: str  # YYMM
    service_code: str

    @property
    def track2(self) -> str:
        """Track 2 equivalent data as digits with '=' as the separator."""
        return f"{self.pan}={self.expiry}{self.service_code}0000000000"


def load_test_cards(path: str | Path) -> dict[str, TestCard]:
    """Cards by name from the TOML file at `path`; a ConfigError naming file, line and key otherwise."""
    source = str(path)
    data, text = read_toml_text(path, "test cards")
    tables = data.get("card")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise ConfigError("expected one or more [[card]] tables", path=source)
    if len(tables) > MAX_CARDS:
        raise ConfigError(f"{len(tables)} cards: at most {MAX_CARDS} in one file", path=source)
    lines = _Lines(text, len(tables))
    cards: dict[str, TestCard] = {}
    for i, table in enumerate(tables):
        card = _card(table, i, lines, source)
        if card.name in cards:
            raise ConfigError(f"duplicate card name {card.name!r}", key=f"card[{i}].name",
                              path=lines.where(source, i, "name"))
        cards[card.name] = card
    return cards


def _card(table: dict[str, object], i: int, lines: "_Lines", source: str) -> TestCard:
    def value(key: str) -> str:
        where = lines.where(source, i, key)
        if key not in table:
            raise ConfigError("missing key", key=f"card[{i}].{key}", path=where)
        v = table[key]
        if not isinstance(v, str):
            raise ConfigError(f"expected a string, got {type(v).__name__} {v!r}", key=f"card[{i}].{key}", path=where)
        return v

    def check(key: str, ok: bool, expected: str, v: str) -> None:
        if not ok:
            raise ConfigError(f"expected {expected}, got {v!r}", key=f"card[{i}].{key}", path=lines.where(source, i, key))

    name, pan, expiry, service_code = value("name"), value("pan"), value("expiry"), value("service_code")
    check("name", bool(re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", name)), "1 to 32 letters, digits, '_', '.' or '-'", name)
    check("pan", pan.isascii() and pan.isdigit() and 13 <= len(pan) <= 19, "13 to 19 digits", pan)
    check("expiry", bool(re.fullmatch(r"[0-9]{2}(0[1-9]|1[0-2])", expiry)), "YYMM (month 01 to 12)", expiry)
    check("service_code", bool(re.fullmatch(r"[0-9]{3}", service_code)), "3 digits", service_code)
    return TestCard(name=name, pan=pan, expiry=expiry, service_code=service_code)


class _Lines:
    """Where the i-th `[[card]]` table and its keys are in the text (1-based lines), for error messages."""

    def __init__(self, text: str, count: int):
        self._text = text.splitlines()
        self._headers = [n for n, line in enumerate(self._text) if _HEADER.match(line)]
        if len(self._headers) != count:  # cards written as an inline array: no line per card
            self._headers = []

    def where(self, source: str, i: int, key: str) -> str:
        if not self._headers:
            return source
        start = self._headers[i]
        key_line = re.compile(rf"\s*{re.escape(key)}\s*=")
        for n in range(start + 1, len(self._text)):
            if _ANY_HEADER.match(self._text[n]):
                break
            if key_line.match(self._text[n]):
                return f"{source}:{n + 1}"
        return f"{source}:{start + 1}"
