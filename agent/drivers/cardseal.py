"""The card of a sale approved offline, sealed until its advice is delivered (PCI DSS v4 3.3.2, 3.5).

An offline-approved sale owes the acquirer an advice (0220) that must carry the PAN, the expiry and,
for a chip sale, the chip data with the TC — for a swiped sale track 2 instead (sensitive authentication
data: kept only until the issuer has answered, and only sealed; docs/security.md says why).  The journal
keeps only the masked PAN, a keyed fingerprint, field 55 with digit runs masked and, for such a sale,
this sealed copy, deleted once the bank answers: AES-GCM (the `cryptography` package) under a key derived
with HKDF-SHA256 from the fingerprint key — a key file kept apart from the journal — bound to the sale's
amount (the associated data).  Nothing here is ever logged."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "s1"
_NONCE = 12


class SealError(ValueError):
    """A sealed card that does not open: damaged, moved, or sealed under another key."""


def _key(fingerprint_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"posagent offline advice card seal v1").derive(fingerprint_key)


class CardSealer:
    def __init__(self, fingerprint_key: bytes):
        if len(fingerprint_key) < 16:
            raise ValueError("the sealing key must be at least 128 bits")
        self._aead = AESGCM(_key(fingerprint_key))

    def seal(self, pan: str, expiry: str, icc: bytes, *, binding: str, track2: str | None = None) -> str:
        """PAN, expiry and the chip data (field 55, which the journal keeps only masked) — or a swipe's
        track 2 — sealed."""
        nonce = os.urandom(_NONCE)
        clear = f"{pan}={expiry}={icc.hex().upper()}"
        if track2:  # its own separator as the stripe writes it ('D'), so '=' still parts the four
            clear += "=" + track2.replace("=", "D")
        sealed = self._aead.encrypt(nonce, clear.encode("ascii"), binding.encode("ascii"))
        return f"{VERSION}:" + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, text: str, *, binding: str) -> tuple[str, str, bytes, str | None]:
        """(PAN, expiry YYMM, field 55, track 2 or None) from a sealed copy; SealError if it does not open."""
        version, _, body = text.partition(":")
        if version != VERSION:
            raise SealError(f"unknown seal version {version[:8]!r}")
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
            clear = self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], binding.encode("ascii")).decode("ascii")
        except (InvalidTag, ValueError, UnicodeError):
            raise SealError("the sealed card does not open with this terminal's key") from None
        pan, expiry, icc, track2 = (clear.split("=") + ["", "", ""])[:4]
        if not (pan.isdigit() and len(expiry) == 4 and expiry.isdigit()):
            raise SealError("the sealed card is not a card number and expiry")
        if track2 and not (track2.count("D") == 1 and track2.replace("D", "").isdigit()):
            raise SealError("the sealed track 2 is not track 2 data")
        return pan, expiry, bytes.fromhex(icc), track2.replace("D", "=") or None

    def __repr__(self) -> str:
        return "<CardSealer>"


def binding_of(amount: int) -> str:
    return f"offline sale:{amount}"
