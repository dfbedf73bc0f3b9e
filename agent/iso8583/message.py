"""`Message`: an immutable ISO 8583 message value (MTI + fields), independent of any dialect.

Field values are `str` for n/an/ans/z fields and `bytes` for b fields.  A message is hashable and
compares by value; `replace` and `without` return new messages.  Encoding checks the values against
a dialect; the constructor only checks the shape (a 4-digit MTI, field numbers 2–128, str or bytes).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping, NoReturn, TypeVar, overload

from agent.iso8583.errors import CodecError

FieldValue = str | bytes
DefaultT = TypeVar("DefaultT")


def _check_mti(mti: object) -> str:
    if type(mti) is not str or len(mti) != 4 or not (mti.isascii() and mti.isdigit()):
        raise CodecError(f"MTI must be 4 digits, got {mti!r}", field=0)
    return mti


def _check_fields(fields: Mapping[int, object]) -> dict[int, FieldValue]:
    checked: dict[int, FieldValue] = {}
    for number, value in fields.items():
        if type(number) is not int or not 2 <= number <= 128:
            raise CodecError(f"field numbers are 2 to 128, got {number!r}")
        if type(value) is bytearray:
            value = bytes(value)
        elif type(value) is not str and type(value) is not bytes:
            raise CodecError(f"value must be str or bytes, got {type(value).__name__}", field=number)
        checked[number] = value
    return checked


class Message:
    """MTI + fields. ``Message("0200", {3: "000000", 4: "000000010000"})``."""

    __slots__ = ("_mti", "_fields", "_hash", "_wire")
    _mti: str
    _fields: dict[int, FieldValue]
    _hash: int | None
    _wire: tuple[object, bytes] | None  # (dialect, its bytes)

    def __init__(self, mti: str, fields: Mapping[int, FieldValue] | None = None) -> None:
        object.__setattr__(self, "_mti", _check_mti(mti))
        object.__setattr__(self, "_fields", _check_fields(fields or {}))
        object.__setattr__(self, "_hash", None)
        object.__setattr__(self, "_wire", None)

    @classmethod
    def _trusted(cls, mti: str, fields: dict[int, FieldValue]) -> "Message":
        """A message from values a decoder already checked (no copy, no checks)."""
        self = object.__new__(cls)
        object.__setattr__(self, "_mti", mti)
        object.__setattr__(self, "_fields", fields)
        object.__setattr__(self, "_hash", None)
        object.__setattr__(self, "_wire", None)
        return self

    def wire(self, dialect: object) -> bytes | None:
        """This message's bytes in `dialect` when they are already known (it was decoded or signed
        there), so they are not encoded again; None otherwise."""
        known = self._wire
        return known[1] if known is not None and known[0] is dialect else None

    def keep_wire(self, dialect: object, data: bytes) -> "Message":
        """Remember `data` as this message's encoding in `dialect` (the dialect's codec calls this only
        with the bytes it decoded the message from, or encoded it to).  Returns the message."""
        object.__setattr__(self, "_wire", (dialect, data))
        return self

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Message is immutable: use replace() or without()")

    __delattr__ = __setattr__  # type: ignore[assignment]  # `del` calls it without a value: a TypeError, kept as it was

    # --- reading --------------------------------------------------------------------------------
    @property
    def mti(self) -> str:
        return self._mti

    @property
    def fields(self) -> Mapping[int, FieldValue]:
        return MappingProxyType(self._fields)

    def __getitem__(self, number: int) -> FieldValue:
        return self._fields[number]

    @overload
    def get(self, number: int) -> FieldValue | None: ...
    @overload
    def get(self, number: int, default: DefaultT) -> FieldValue | DefaultT: ...

    def get(self, number: int, default: object = None) -> object:
        return self._fields.get(number, default)

    def text(self, number: int) -> str | None:
        """A text field (11, 37, 41: never bytes in any dialect), or None when it is absent or binary."""
        value = self._fields.get(number)
        return value if isinstance(value, str) else None

    def __contains__(self, number: object) -> bool:
        return number in self._fields

    def numbers(self) -> list[int]:
        """The present field numbers, ascending."""
        return sorted(self._fields)

    @property
    def amount(self) -> int | None:
        """Field 4 as an integer in minor units, or None when absent."""
        value = self._fields.get(4)
        if value is None:
            return None
        if type(value) is not str or not (value.isascii() and value.isdigit()):
            raise CodecError("amount is not digits", field=4)
        return int(value)

    @property
    def response_mti(self) -> str:
        """The answer's MTI: 0200 → 0210, 0800 → 0810 (function digit + 1)."""
        if int(self._mti[2]) % 2:
            raise CodecError(f"MTI {self._mti} is already a response", field=0)
        return self._mti[:2] + str(int(self._mti[2]) + 1) + self._mti[3]

    @property
    def repeat_mti(self) -> str:
        """The repeat of a request: 0400 → 0401, 0220 → 0221 (origin digit + 1)."""
        if self._mti[3] not in "02":
            raise CodecError(f"MTI {self._mti} is already a repeat", field=0)
        return self._mti[:3] + str(int(self._mti[3]) + 1)

    @property
    def is_response(self) -> bool:
        return int(self._mti[2]) % 2 == 1

    # --- new values -----------------------------------------------------------------------------
    def replace(self, fields: Mapping[int, FieldValue] | None = None, *, mti: str | None = None) -> "Message":
        merged = dict(self._fields)
        merged.update(fields or {})
        return Message(self._mti if mti is None else mti, merged)

    def without(self, *numbers: int) -> "Message":
        return Message._trusted(self._mti, {k: v for k, v in self._fields.items() if k not in numbers})

    def with_mti(self, mti: str) -> "Message":
        return Message._trusted(_check_mti(mti), dict(self._fields))

    # --- value semantics ------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self._mti == other._mti and self._fields == other._fields

    def __hash__(self) -> int:
        known = self._hash
        if known is None:
            known = hash((self._mti, frozenset(self._fields.items())))
            object.__setattr__(self, "_hash", known)
        return known

    def __repr__(self) -> str:
        # repr never shows values: a message may carry a PAN, track or PIN block
        return f"Message({self._mti!r}, fields={self.numbers()})"
