"""Test cards as data, shared by the acquirer simulator and the virtual EMV card.

The application cryptogram scheme here is the simulator's own, *not* real EMV cryptography (no
session-key derivation, no issuer master keys): the ARQC is an ISO 9797-1 algorithm 3 MAC (the
ANSI X9.19 retail MAC) under the card's `ac_key` over the CDOL1 data the terminal sent; the ARPC is
3DES(ac_key, ARQC XOR (ARC || 000000000000)), EMV's ARPC method 1 shape.  Enough for the host to
verify that the card and the terminal saw the same amount and unpredictable number.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from agent.errors import ConfigError
from agent.iso8583.crypto import tdes_ecb_decrypt, tdes_ecb_encrypt

BEHAVIOURS = ("ok", "do-not-honour", "lost", "stolen", "restricted")
CARD_TYPES = ("debit", "credit")

#: CDOL1 of every test card: (tag, length). The terminal sends these values with the first GENERATE AC
#: and also in field 55, so the host can rebuild the CDOL1 data and check the ARQC.
CDOL1 = (
    (0x9F02, 6),  # amount, authorised (n12)
    (0x9F03, 6),  # amount, other
    (0x9F1A, 2),  # terminal country code
    (0x95, 5),    # terminal verification results
    (0x5F2A, 2),  # transaction currency code
    (0x9A, 3),    # transaction date YYMMDD
    (0x9C, 1),    # transaction type
    (0x9F37, 4),  # unpredictable number
)


def cdol1_data(values: dict[int, bytes]) -> bytes:
    """The CDOL1 data block from tag values; a missing or wrong-length value is a ValueError."""
    out = bytearray()
    for tag, length in CDOL1:
        value = values.get(tag)
        if value is None or len(value) != length:
            raise ValueError(f"CDOL1 tag {tag:X} needs {length} bytes, got {None if value is None else len(value)}")
        out += value
    return bytes(out)


@dataclass(frozen=True)
class TestCard:
    name: str
    pan: str
    expiry: str  # YYMM
    service_code: str
    sequence: str  # card sequence number, 3 digits (field 23)
    aid: str  # hex
    label: str
    holder: str
    balance: int  # minor units
    behaviour: str
    ac_key: bytes
    card_type: str = "debit"  # debit or credit: the fee rate on the merchant's statement

    @property
    def track2(self) -> str:
        """Track 2 equivalent data as digits with '=' as the separator."""
        return f"{self.pan}={self.expiry}{self.service_code}0000000000"


def load_cards(path: str | Path | None = None) -> dict[str, TestCard]:
    """Cards by name from `path` (default: the packaged simulator/data/cards.toml)."""
    if path is None:
        text = resources.files("simulator").joinpath("data/cards.toml").read_text("utf-8")
        source = "simulator/data/cards.toml"
    else:
        source = str(path)
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read test cards: {exc.strerror}", path=source) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=source) from None
    cards: dict[str, TestCard] = {}
    for i, raw in enumerate(data.get("card", [])):
        where = f"card[{i}]"
        try:
            card = TestCard(
                name=str(raw["name"]), pan=str(raw["pan"]), expiry=str(raw["expiry"]),
                service_code=str(raw["service_code"]), sequence=str(raw["sequence"]),
                aid=str(raw["aid"]).upper(), label=str(raw["label"]), holder=str(raw["holder"]),
                balance=int(raw["balance"]), behaviour=str(raw["behaviour"]),
                ac_key=bytes.fromhex(raw["ac_key"]), card_type=str(raw.get("card_type", "debit")),
            )
        except KeyError as exc:
            raise ConfigError(f"missing key {exc.args[0]}", key=where, path=source) from None
        except ValueError as exc:
            raise ConfigError(f"bad value: {exc}", key=where, path=source) from None
        if not (card.pan.isdigit() and 13 <= len(card.pan) <= 19):
            raise ConfigError("pan must be 13 to 19 digits", key=f"{where}.pan", path=source)
        if not (card.expiry.isdigit() and len(card.expiry) == 4):
            raise ConfigError("expiry must be YYMM", key=f"{where}.expiry", path=source)
        if card.behaviour not in BEHAVIOURS:
            raise ConfigError(f"behaviour must be one of {', '.join(BEHAVIOURS)}", key=f"{where}.behaviour",
                              path=source)
        if card.card_type not in CARD_TYPES:
            raise ConfigError(f"card_type must be one of {', '.join(CARD_TYPES)}", key=f"{where}.card_type",
                              path=source)
        if len(card.ac_key) != 16:
            raise ConfigError("ac_key must be 32 hex digits", key=f"{where}.ac_key", path=source)
        if card.name in cards:
            raise ConfigError(f"duplicate card name {card.name!r}", key=where, path=source)
        cards[card.name] = card
    return cards


def card_by_pan(cards: dict[str, TestCard], pan: str) -> TestCard | None:
    return next((c for c in cards.values() if c.pan == pan), None)


def _des_ecb(key: bytes, block: bytes, decrypt: bool = False) -> bytes:
    return tdes_ecb_decrypt(key, block) if decrypt else tdes_ecb_encrypt(key, block)


def compute_arqc(ac_key: bytes, cdol1_data: bytes) -> bytes:
    """ISO 9797-1 MAC algorithm 3 (padding method 2) of the CDOL1 data under the card's key."""
    data = cdol1_data + b"\x80"
    data += b"\x00" * (-len(data) % 8)
    left, right = ac_key[:8], ac_key[8:]
    state = bytes(8)
    for i in range(0, len(data), 8):
        state = _des_ecb(left + left, bytes(a ^ b for a, b in zip(state, data[i:i + 8])))
    state = _des_ecb(right + right, state, decrypt=True)
    return _des_ecb(left + left, state)


def compute_arpc(ac_key: bytes, arqc: bytes, arc: bytes) -> bytes:
    """ARPC method 1 shape: 3DES(ac_key, ARQC XOR (ARC || zeros))."""
    pad = arc + bytes(8 - len(arc))
    return _des_ecb(ac_key, bytes(a ^ b for a, b in zip(arqc, pad)))
