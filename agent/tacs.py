"""Terminal action codes per application (EMV Book 3 §10.7): the table, its text form, its checks.

The acquirer sets the terminal's denial / online / default action codes per AID.  `[emv] tacs` holds
them as one line of text, entries separated by ";":

    A0000003330101 denial=0010000000 online=DC4004F800 default=DC4000A800; A0000003330102 online=...

An entry may leave codes out: those come from `[emv] tac_denial / tac_online / tac_default`, which also
serve every AID the table does not list.  The card's AID matches the longest listed AID it starts
with (a terminal AID names a family: A000000333010101 is under A0000003330101).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Protocol, TypeVar

ValueT = TypeVar("ValueT")

CODES = ("denial", "online", "default")

#: the default table as data: UnionPay debit, credit and quasi-credit, as acquirers commonly set them
#: (decline offline a card whose service is not allowed; go online on authentication, CVM and limit bits)
DEFAULT_TACS: dict[str, dict[str, str]] = {
    "A0000003330101": {"denial": "0010000000", "online": "DC4004F800", "default": "DC4000A800"},
    "A0000003330102": {"denial": "0010000000", "online": "DC4004F800", "default": "DC4000A800"},
    "A0000003330103": {"denial": "0010000000", "online": "DC4004F800", "default": "DC4000A800"},
}

_AID = re.compile(r"[0-9A-F]{10,32}")
_CODE = re.compile(r"[0-9A-F]{10}")


class TacTableError(ValueError):
    """A bad `[emv] tacs` text: the message names the AID (or the entry) and what was expected."""


@dataclass(frozen=True)
class ActionCodes:
    denial: bytes
    online: bytes
    default: bytes

    def __post_init__(self) -> None:
        if not len(self.denial) == len(self.online) == len(self.default) == 5:
            raise ValueError("terminal action codes are 5 bytes each")


@dataclass(frozen=True)
class TacTable:
    """Action codes by AID, and the codes for any other AID (`fallback`)."""

    fallback: ActionCodes
    by_aid: tuple[tuple[bytes, ActionCodes], ...] = ()

    def for_aid(self, aid: bytes) -> ActionCodes:
        """The codes of the longest listed AID that `aid` starts with, else the fallback."""
        best: tuple[bytes, ActionCodes] | None = None
        for listed, codes in self.by_aid:
            if aid.startswith(listed) and (best is None or len(listed) > len(best[0])):
                best = (listed, codes)
        return best[1] if best else self.fallback


@dataclass(frozen=True)
class AidSettings:
    """What else the acquirer sets per AID: the floor limit, the application version the terminal sends
    (9F09) and the default DDOL (used when the card gives none)."""

    floor_limit: int
    app_version: bytes
    default_ddol: bytes


def longest_match(rows: tuple[tuple[bytes, ValueT], ...], aid: bytes) -> ValueT | None:
    """The value of the longest listed AID that `aid` starts with, else None."""
    best: tuple[bytes, ValueT] | None = None
    for listed, value in rows:
        if aid.startswith(listed) and (best is None or len(listed) > len(best[0])):
            best = (listed, value)
    return best[1] if best else None


class SetAid(Protocol):
    """An AID of a parameter set as the tables read it (agent/engine/paramset.py's `AidEntry`)."""

    @property
    def aid(self) -> str: ...
    @property
    def floor_limit(self) -> int: ...
    @property
    def app_version(self) -> str: ...
    @property
    def default_ddol(self) -> str: ...
    @property
    def tac_denial(self) -> str: ...
    @property
    def tac_online(self) -> str: ...
    @property
    def tac_default(self) -> str: ...


def tables_from_set(aids: Iterable[SetAid],
                    fallback: ActionCodes) -> tuple[TacTable, tuple[tuple[bytes, AidSettings], ...]]:
    """The action-code table and the per-AID settings of a parameter set's AIDs (agent/engine/paramset.py)."""
    codes, settings = [], []
    for entry in aids:
        aid = bytes.fromhex(entry.aid)
        codes.append((aid, ActionCodes(bytes.fromhex(entry.tac_denial), bytes.fromhex(entry.tac_online),
                                       bytes.fromhex(entry.tac_default))))
        settings.append((aid, AidSettings(entry.floor_limit, bytes.fromhex(entry.app_version),
                                          bytes.fromhex(entry.default_ddol))))
    return TacTable(fallback, tuple(codes)), tuple(settings)


def aids_of_table(table: TacTable, floor_limit: int) -> list[dict[str, str | int]]:
    """A table read from `[emv] tacs` as a parameter set's AIDs (the files' set, for its digest)."""
    return [{"aid": aid.hex().upper(), "floor_limit": floor_limit, "tac_denial": codes.denial.hex().upper(),
             "tac_online": codes.online.hex().upper(), "tac_default": codes.default.hex().upper()}
            for aid, codes in table.by_aid]


def format_table(table: Mapping[str, Mapping[str, str]]) -> str:
    """The text form of a table of {AID: {code name: hex}} (the inverse of `parse_entries`)."""
    return "; ".join(" ".join([aid] + [f"{name}={codes[name]}" for name in CODES if name in codes])
                     for aid, codes in table.items())


def parse_entries(text: str) -> dict[str, dict[str, str]]:
    """{AID: {code name: hex}} from the text form; `TacTableError` names the AID and the problem."""
    entries: dict[str, dict[str, str]] = {}
    parts = text.split(";")
    for number, raw in enumerate(parts, 1):
        words = raw.split()
        if not words:
            if number == len(parts):  # nothing at all, or a trailing ';'
                continue
            raise TacTableError(f"entry {number} is empty (entries are separated by ';')")
        aid = words[0].upper()
        if not _AID.fullmatch(aid) or len(aid) % 2:
            raise TacTableError(f"entry {number}: {words[0]!r} is not an AID (10 to 32 hex digits, whole bytes)")
        if aid in entries:
            raise TacTableError(f"AID {aid} is listed twice")
        codes: dict[str, str] = {}
        for word in words[1:]:
            name, eq, value = word.partition("=")
            if not eq or name not in CODES:
                raise TacTableError(f"AID {aid}: {word!r} is not denial=, online= or default= with 10 hex digits")
            if name in codes:
                raise TacTableError(f"AID {aid}: {name} is given twice")
            if not _CODE.fullmatch(value.upper()):
                raise TacTableError(f"AID {aid}: {name} must be 10 hex digits, got {value!r}")
            codes[name] = value.upper()
        if not codes:
            raise TacTableError(f"AID {aid}: no action code given (denial=, online=, default=)")
        entries[aid] = codes
    return entries


def check_text(value: str) -> str | None:
    """The configuration check for `[emv] tacs`: the reason it is bad, or None."""
    try:
        parse_entries(value)
    except TacTableError as exc:
        return str(exc)
    return None


def build_table(text: str, fallback: ActionCodes) -> TacTable:
    """The table from its text form; codes an entry leaves out are the fallback's."""
    rows = []
    for aid, codes in parse_entries(text).items():
        rows.append((bytes.fromhex(aid), ActionCodes(
            *(bytes.fromhex(codes[name]) if name in codes else getattr(fallback, name) for name in CODES))))
    return TacTable(fallback, tuple(rows))


DEFAULT_TEXT = format_table(DEFAULT_TACS)
