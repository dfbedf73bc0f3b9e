"""Test cards as data, shared by the acquirer simulator and the virtual EMV card.

Each card carries its issuer's master keys (test keys, never real ones): `imk_ac` for application
cryptograms and `imk_smi` for issuer-script integrity, and the ARPC method of its profile. The card and
the host derive the ICC and session keys from them by EMV Book 2 (see simulator/emvcrypto.py).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from agent.drivers.testcards import TestCard as KeyedCard
from agent.errors import ConfigError
from simulator.emvcrypto import IssuerKeys, dol_values

BEHAVIOURS = ("ok", "do-not-honour", "lost", "stolen", "restricted")
ODA_METHODS = ("none", "sda", "dda", "cda")
CERT_FAULTS = ("", "expired-issuer-cert", "revoked-issuer-cert", "tampered-record")
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
    return dol_values(CDOL1, values)


@dataclass(frozen=True)
class TestCard(KeyedCard):
    """A whole virtual card: what a terminal may key in (name, PAN, expiry, service code, track 2 — the
    product's own test-card record) and its chip, issuer keys and behaviour."""
    sequence: str  # card sequence number, 3 digits (field 23)
    aid: str  # hex
    label: str
    holder: str
    balance: int  # minor units
    behaviour: str
    keys: IssuerKeys
    oda: str = "dda"
    cert_fault: str = ""
    iac_denial: bytes = bytes(5)
    first_ac: str = "ARQC"  # "AAC": the card itself declines offline at the first GENERATE AC
    card_type: str = "debit"  # debit or credit: the fee rate on the merchant's statement
    cvm_rules: bytes = bytes.fromhex("42031F00")  # CVM list rules (tag 8E after X and Y): online PIN if supported, else no CVM
    pin: str = ""  # the cardholder's PIN the issuer checks (empty: none)
    pin_required: bool = False  # the issuer refuses a sale or pre-auth of this card without a PIN
    offline: bool = False  # card risk management lets the card approve offline (TC) when the terminal asks


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
                keys=IssuerKeys(imk_ac=bytes.fromhex(raw["imk_ac"]), imk_smi=bytes.fromhex(raw["imk_smi"]),
                                arpc_method=int(raw.get("arpc_method", 1))),
                oda=str(raw.get("oda", "dda")), cert_fault=str(raw.get("cert_fault", "")),
                iac_denial=bytes.fromhex(raw.get("iac_denial", "0000000000")),
                first_ac=str(raw.get("first_ac", "ARQC")),
                card_type=str(raw.get("card_type", "debit")),
                cvm_rules=bytes.fromhex(raw.get("cvm_rules", "42031F00")),
                pin=str(raw.get("pin", "")), pin_required=bool(raw.get("pin_required", False)),
                offline=bool(raw.get("offline", False)),
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
        for name in ("imk_ac", "imk_smi"):
            if len(getattr(card.keys, name)) != 16:
                raise ConfigError(f"{name} must be 32 hex digits", key=f"{where}.{name}", path=source)
        if card.oda not in ODA_METHODS:
            raise ConfigError(f"oda must be one of {', '.join(ODA_METHODS)}", key=f"{where}.oda", path=source)
        if card.cert_fault not in CERT_FAULTS:
            raise ConfigError(f"cert_fault must be one of {', '.join(CERT_FAULTS[1:])}", key=f"{where}.cert_fault",
                              path=source)
        if card.first_ac not in ("ARQC", "AAC"):
            raise ConfigError("first_ac must be ARQC or AAC", key=f"{where}.first_ac", path=source)
        if len(card.iac_denial) != 5:
            raise ConfigError("iac_denial must be 10 hex digits", key=f"{where}.iac_denial", path=source)
        if card.keys.arpc_method not in (1, 2):
            raise ConfigError("arpc_method must be 1 or 2", key=f"{where}.arpc_method", path=source)
        if card.card_type not in CARD_TYPES:
            raise ConfigError(f"card_type must be one of {', '.join(CARD_TYPES)}", key=f"{where}.card_type",
                              path=source)
        if not card.cvm_rules or len(card.cvm_rules) % 2 or len(card.cvm_rules) > 24:
            raise ConfigError("cvm_rules must be 1 to 12 rules of 4 hex digits", key=f"{where}.cvm_rules", path=source)
        if card.pin and not (card.pin.isdigit() and 4 <= len(card.pin) <= 12):
            raise ConfigError("pin must be 4 to 12 digits", key=f"{where}.pin", path=source)
        if card.pin_required and not card.pin:
            raise ConfigError("pin_required needs a pin", key=f"{where}.pin_required", path=source)
        if card.name in cards:
            raise ConfigError(f"duplicate card name {card.name!r}", key=where, path=source)
        cards[card.name] = card
    return cards


def card_by_pan(cards: dict[str, TestCard], pan: str) -> TestCard | None:
    return next((c for c in cards.values() if c.pan == pan), None)

