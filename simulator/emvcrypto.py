"""EMV application cryptograms by the book, shared by the virtual card and the acquirer simulator.

EMV 4.x Book 2 (security and key management), through pyemv's implementations of its functions:
- ICC master keys: Option A (Annex A1.4.1) from the issuer master key, the PAN and the PAN sequence number.
- AC session key: common session key derivation (Annex A1.3.1), R = ATC || 00 00 00 00 00 00.
- AC (ARQC, TC, AAC, §8.1): ISO/IEC 9797-1 MAC algorithm 3, padding method 2, over the CDOL data the
  terminal sent, then the card's AIP (82), ATC (9F36) and issuer application data (9F10) — the
  recommended minimum data set of §8.1.1 plus the IAD, as common-core cards do.
- ARPC (§8.2): method 1 = 3DES(SK_AC)[ARQC XOR (ARC || 00…)], tag 91 = ARPC || ARC (10 bytes);
  method 2 = MAC algorithm 3 over ARQC || CSU || proprietary data, tag 91 = ARPC(4) || CSU (8 bytes).
- Issuer script integrity (§9.2.1): SK_SMI = common session key of the ICC's script-integrity master
  key with R = ARQC; the MAC (8 bytes) covers CLA INS P1 P2 Lc || ATC || ARQC || command data.

The terminal never holds these keys: only the card (simulator/card) and the issuer (simulator/host) do.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from typing import Mapping, Sequence

from cryptography.utils import CryptographyDeprecationWarning
from pyemv import ac as _ac
from pyemv import kd as _kd
from pyemv import mac as _mac

# pyemv reaches TripleDES through its old import path, which `cryptography` marks deprecated; the
# algorithm is what EMV specifies, so the warning is silenced for pyemv alone.
warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning, module=r"pyemv\.")

#: Issuer application data (9F10) the virtual cards return: length 07, key index 01, CVN 01, CVR 03A00000…
IAD = bytes.fromhex("07010103A0000001" "0A01000000000000")
#: Card status update sent with ARPC method 2 (no update requested).
CSU_NONE = bytes(4)


class CryptogramError(ValueError):
    """Data that cannot enter a cryptogram computation (a missing tag, a wrong length)."""


@dataclass(frozen=True)
class IssuerKeys:
    """The issuer master keys of one card (test keys only) and the card profile's ARPC method."""

    imk_ac: bytes
    imk_smi: bytes
    arpc_method: int = 1


def icc_master_key(imk: bytes, pan: str, sequence: str) -> bytes:
    """Option A: the ICC master key from an issuer master key, the PAN and the 2-digit PSN."""
    return _kd.derive_icc_mk_a(imk, pan, sequence[-2:].zfill(2))


def ac_session_key(keys: IssuerKeys, pan: str, sequence: str, atc: bytes) -> bytes:
    """The AC session key for one ATC (common session key derivation)."""
    if len(atc) != 2:
        raise CryptogramError(f"ATC must be 2 bytes, got {len(atc)}")
    return _kd.derive_common_sk(icc_master_key(keys.imk_ac, pan, sequence), atc + bytes(6))


def dol_values(dol: Sequence[tuple[int, int]], values: Mapping[int, bytes]) -> bytes:
    """The data block a DOL asks for, in its order; a missing or wrong-length value is refused."""
    out = bytearray()
    for tag, length in dol:
        value = values.get(tag)
        if value is None or len(value) != length:
            got = "nothing" if value is None else f"{len(value)} bytes"
            raise CryptogramError(f"tag {tag:X} needs {length} bytes, got {got}")
        out += value
    return bytes(out)


def ac_input(dol: Sequence[tuple[int, int]], values: Mapping[int, bytes]) -> bytes:
    """What the application cryptogram covers: the DOL data, then AIP, ATC and IAD from `values`."""
    card_part = bytearray()
    for tag, name in ((0x82, "AIP"), (0x9F36, "ATC"), (0x9F10, "IAD")):
        value = values.get(tag)
        if not value:
            raise CryptogramError(f"{name} ({tag:X}) missing")
        card_part += value
    return dol_values(dol, values) + bytes(card_part)


def application_cryptogram(keys: IssuerKeys, pan: str, sequence: str, dol: Sequence[tuple[int, int]],
                           values: Mapping[int, bytes]) -> bytes:
    """The 8-byte AC over `ac_input(dol, values)` under the session key of `values[0x9F36]`."""
    data = ac_input(dol, values)
    session = ac_session_key(keys, pan, sequence, values[0x9F36])
    return _ac.generate_ac(session, data, _ac.PaddingType.EMV)


def issuer_authentication_data(keys: IssuerKeys, pan: str, sequence: str, atc: bytes, arqc: bytes,
                               arc: bytes) -> bytes:
    """Tag 91 of the issuer's answer, by the card profile's ARPC method."""
    session = ac_session_key(keys, pan, sequence, atc)
    if keys.arpc_method == 2:
        return _ac.generate_arpc_2(session, arqc, CSU_NONE) + CSU_NONE
    return _ac.generate_arpc_1(session, arqc, arc) + arc


def issuer_authentication_ok(keys: IssuerKeys, pan: str, sequence: str, atc: bytes, arqc: bytes,
                             auth_data: bytes) -> bool:
    """The card's check of tag 91 in the second GENERATE AC (constant shape: recompute and compare)."""
    if keys.arpc_method == 2:
        if len(auth_data) != 8:
            return False
        return issuer_authentication_data(keys, pan, sequence, atc, arqc, b"") == auth_data
    if len(auth_data) != 10:
        return False
    return issuer_authentication_data(keys, pan, sequence, atc, arqc, auth_data[8:10]) == auth_data


def script_session_key(keys: IssuerKeys, pan: str, sequence: str, arqc: bytes) -> bytes:
    """The issuer-script integrity session key: common derivation with R = the transaction's ARQC."""
    if len(arqc) != 8:
        raise CryptogramError(f"ARQC must be 8 bytes, got {len(arqc)}")
    return _kd.derive_common_sk(icc_master_key(keys.imk_smi, pan, sequence), arqc)


def script_mac(keys: IssuerKeys, pan: str, sequence: str, atc: bytes, arqc: bytes, header: bytes,
               data: bytes) -> bytes:
    """The 8-byte MAC an issuer appends to a script command (header = CLA INS P1 P2 Lc, Lc counting the MAC)."""
    session = script_session_key(keys, pan, sequence, arqc)
    return _mac.mac_iso9797_3(session[:8], session[8:], header + atc + arqc + data, 2)


def script_command(keys: IssuerKeys, pan: str, sequence: str, atc: bytes, arqc: bytes, cla_ins_p1_p2: bytes,
                   data: bytes = b"") -> bytes:
    """A complete issuer script command APDU with its MAC (secure messaging, CLA 84)."""
    header = cla_ins_p1_p2 + bytes([len(data) + 8])
    return header + data + script_mac(keys, pan, sequence, atc, arqc, header, data)


def transaction_data_hash(data: bytes) -> bytes:
    """CDA's transaction data hash code (Book 2 §6.6.1): SHA-1 over PDOL data, CDOL data and the TLVs returned."""
    return hashlib.sha1(data).digest()
