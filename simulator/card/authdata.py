"""What a virtual card carries and signs for offline data authentication (SDA, DDA, CDA).

The card's profile (simulator/data/cards.toml: `oda`, `cert_fault`) decides its AIP, and its records
carry the CA key index (8F), the issuer's certificate (90, 92, 9F32), for DDA/CDA its own certificate
(9F46, 9F47, 9F48), for SDA the signed static data (93), the DDOL (9F49) and the static data tag list
(9F4A = AIP). Certificates are made once per card from the test PKI (simulator/emvpki.py).
"""

from __future__ import annotations

from functools import lru_cache

from agent.iso8583.tlv import Tlv
from simulator import emvpki
from simulator.testcards import TestCard

#: AIP byte 1: SDA 40, DDA 20, cardholder verification 10, terminal risk management 08, issuer
#: authentication 04, CDA 01 (EMV Book 3 Annex C1)
AIP_BY_ODA = {"none": bytes.fromhex("1C00"), "sda": bytes.fromhex("5C00"), "dda": bytes.fromhex("3C00"),
              "cda": bytes.fromhex("3D00")}
DDOL = bytes.fromhex("9F3704")  # the unpredictable number
ISSUER_CERT_EXPIRY = {"expired-issuer-cert": "0120"}  # MMYY: January 2020
REVOKED_SERIAL = bytes.fromhex("0000FF")  # the serial the simulator's CA lists as revoked
GOOD_SERIAL = bytes.fromhex("000001")


def aip(card: TestCard) -> bytes:
    return AIP_BY_ODA[card.oda]


def _icc_key(card: TestCard) -> emvpki.RsaKey:
    return emvpki.load_pki().cards[card.name]


@lru_cache(maxsize=64)
def auth_records(card: TestCard, static_data: bytes) -> tuple[tuple[Tlv, ...], ...]:
    """The card's authentication records (issuer's, then its own), signed over `static_data`.

    Two records, because a record answered in one short APDU holds at most 256 bytes."""
    if card.oda == "none":
        return ()
    pki = emvpki.load_pki()
    issuer = pki.issuers[card.pan[:6]]
    serial = REVOKED_SERIAL if card.cert_fault == "revoked-issuer-cert" else GOOD_SERIAL
    cert, remainder = emvpki.issuer_certificate(pki.ca, issuer, card.pan[:6],
                                                ISSUER_CERT_EXPIRY.get(card.cert_fault, "1231"), serial)
    issuer_items = [Tlv(0x8F, bytes([emvpki.CA_INDEX])), Tlv(0x90, cert), Tlv(0x9F32, issuer.exponent_bytes())]
    if remainder:
        issuer_items.append(Tlv(0x92, remainder))
    items: list[Tlv] = []
    if card.oda == "sda":
        items.append(Tlv(0x93, emvpki.signed_static_data(issuer, static_data)))
    else:
        icc = _icc_key(card)
        icc_expiry = card.expiry[2:] + card.expiry[:2]  # YYMM → MMYY
        icc_cert, icc_remainder = emvpki.icc_certificate(issuer, icc, card.pan, icc_expiry, GOOD_SERIAL, static_data)
        items += [Tlv(0x9F46, icc_cert), Tlv(0x9F47, icc.exponent_bytes()), Tlv(0x9F49, DDOL)]
        if icc_remainder:
            items.append(Tlv(0x9F48, icc_remainder))
    items.append(Tlv(0x9F4A, b"\x82"))
    return tuple(issuer_items), tuple(items)


def dynamic_signature(card: TestCard, icc_dynamic_data: bytes, terminal_data: bytes) -> bytes:
    """The card's signed dynamic application data (9F4B) for DDA or CDA."""
    return emvpki.signed_dynamic_data(_icc_key(card), icc_dynamic_data, terminal_data)
