"""The PIN pad: holds the PIN the cardholder typed for one transaction and turns it into field 52.

The PIN lives in a `bytearray` that `wipe()` overwrites; it never reaches the engine's plans, the
journal or a log: the card flow only learns *whether* a PIN was entered, and the request only gets the
ISO 9564 format-0 block enciphered under the PIN key (the key store's `pin_block`).  On real hardware
this is the PIN pad's secure element; here it is the software stand-in behind the same three calls.
"""

from __future__ import annotations

from typing import Callable

MIN_DIGITS, MAX_DIGITS = 4, 12


class PinPadError(ValueError):
    """A PIN the pad cannot take (never says which digits)."""


def check_pin(pin: str) -> None:
    if not (isinstance(pin, str) and pin.isascii() and pin.isdigit() and MIN_DIGITS <= len(pin) <= MAX_DIGITS):
        raise PinPadError(f"a PIN is {MIN_DIGITS} to {MAX_DIGITS} digits")


class PinPad:
    """One transaction's PIN entry: `load` before the card is read, `wipe` when the transaction ends."""

    def __init__(self, cipher: Callable[[str, str], bytes] | None = None):
        self._cipher = cipher  # (pin, pan) -> enciphered PIN block under the PIN key
        self._pin = bytearray()

    def load(self, pin: str | None) -> None:
        """The digits the cardholder typed (None: the PIN entry was bypassed)."""
        self.wipe()
        if pin is not None:
            check_pin(pin)
            self._pin = bytearray(pin.encode("ascii"))

    def entered(self) -> bool:
        """Asked by the card flow when the card's CVM list calls for an online PIN."""
        return bool(self._pin)

    def block(self, pan: str) -> bytes:
        """Field 52: the format-0 PIN block for `pan`, enciphered under the PIN key."""
        if not self._pin:
            raise PinPadError("no PIN was entered")
        if self._cipher is None:
            raise PinPadError("no PIN key: sign on first")
        return self._cipher(self._pin.decode("ascii"), pan)

    def wipe(self) -> None:
        self._pin[:] = bytes(len(self._pin))
        self._pin = bytearray()

    def __repr__(self) -> str:
        return f"<PinPad {'entered' if self._pin else 'empty'}>"
