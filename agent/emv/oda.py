"""Offline data authentication, the terminal's side (EMV 4.x Book 2 §5–6): SDA, DDA and CDA. No I/O here.

The terminal holds the certification authorities' public keys (`[emv] ca_keys`, a TOML file checked on
load: index, RID, modulus, exponent, expiry, SHA-1 checksum) and a revocation list of issuer
certificates. From the card's records it recovers the issuer's public key (certificate 90, format 02)
and, for DDA/CDA, the card's (9F46, format 04), then checks signed static data (93, format 03) or signed
dynamic data (9F4B, format 05). Every failure is an `OdaFailure` naming what failed; the flow turns it
into the TVR bit of the method (SDA/DDA/CDA failed, plus "ICC data missing" where a tag was absent).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Protocol

from agent.config import read_toml
from agent.settingchecks import brief
from agent.errors import ConfigError


class OdaFailure(Exception):
    """Offline data authentication failed; `missing` when the card lacked a data object."""

    def __init__(self, reason: str, *, missing: bool = False):
        self.reason = reason
        self.missing = missing
        super().__init__(reason)


@dataclass(frozen=True)
class CaKey:
    rid: bytes
    index: int
    modulus: int
    exponent: int
    expiry: str  # MMYY
    size: int


@dataclass(frozen=True)
class CaKeys:
    """The terminal's CA public keys by (RID, index), and revoked issuer certificates."""

    keys: Mapping[tuple[bytes, int], CaKey] = field(default_factory=dict)
    revoked: frozenset[tuple[bytes, int, bytes]] = frozenset()  # (RID, CA index, certificate serial)

    def find(self, rid: bytes, index: int) -> CaKey | None:
        return self.keys.get((rid, index))


#: what each entry of the CA key file holds; anything else is a typo that would be silently ignored
KEY_FIELDS = ("rid", "index", "modulus", "exponent", "expiry", "checksum")
REVOKED_FIELDS = ("rid", "index", "serial")
#: the CA public key sizes EMV allows (Book 2 Annex B2: up to 1984 bits; shorter than 512 is no key)
MODULUS_BYTES = (64, 248)


def _hex(table: Mapping[str, object], name: str, where: str, source: str, length: int | None = None) -> bytes:
    raw = table.get(name)
    try:
        value = bytes.fromhex(raw) if isinstance(raw, str) else None
    except ValueError:
        value = None
    if value is None or (length is not None and len(value) != length):
        want = f"{length} bytes of hex" if length else "hex"
        got = "nothing (the key is missing)" if raw is None else brief(raw)
        raise ConfigError(f"expected {want}, got {got}", key=f"{where}.{name}", path=source)
    return value


def _entries(data: Mapping[str, object], name: str, fields: tuple[str, ...], source: str) -> list[Mapping[str, object]]:
    """The `[[name]]` tables of the file, each holding only `fields`; a wrong shape is one line, not a crash."""
    entries = data.get(name, [])
    if not isinstance(entries, list):
        got = f"a single [{name}] table" if isinstance(entries, dict) else f"{type(entries).__name__} {brief(entries)}"
        raise ConfigError(f"expected [[{name}]] tables, got {got}", key=name, path=source)
    for i, table in enumerate(entries):
        if not isinstance(table, dict):
            raise ConfigError(f"expected a [[{name}]] table, got {type(table).__name__} {brief(table)}",
                              key=f"{name}[{i}]", path=source)
        for unknown in (k for k in table if k not in fields):
            raise ConfigError(f"unknown key (known: {', '.join(fields)})", key=f"{name}[{i}].{unknown}", path=source)
    return entries


def _modulus_problem(modulus: bytes) -> str | None:
    lo, hi = MODULUS_BYTES
    if not lo <= len(modulus) <= hi:
        return f"expected a modulus of {lo} to {hi} bytes, got {len(modulus)}"
    if not any(modulus):
        return "expected an RSA modulus, got zero"
    if modulus[0] == 0:
        return f"expected a modulus whose first byte is not 00 (its length is the key's: {len(modulus)} bytes)"
    if modulus[-1] % 2 == 0:
        return "expected an RSA modulus, got an even number"
    return None


def load_ca_keys(path: str | Path) -> CaKeys:
    """Read and check a CA key file; every defect is a `ConfigError` naming the entry and the key."""
    source = str(path)
    data = read_toml(path, "CA keys")
    for unknown in (k for k in data if k not in ("key", "revoked")):
        raise ConfigError("unknown table (known: [[key]], [[revoked]])", key=unknown, path=source)
    keys: dict[tuple[bytes, int], CaKey] = {}
    for i, table in enumerate(_entries(data, "key", KEY_FIELDS, source)):
        where = f"key[{i}]"
        rid = _hex(table, "rid", where, source, 5)
        index = _hex(table, "index", where, source, 1)[0]
        name = f"CA key {rid.hex().upper()}/{index:02X}"
        modulus = _hex(table, "modulus", where, source)
        exponent = _hex(table, "exponent", where, source)
        expiry = table.get("expiry", "")
        checksum = _hex(table, "checksum", where, source, 20)
        if exponent not in (b"\x03", b"\x01\x00\x01"):
            raise ConfigError(f"expected exponent 03 or 010001 (3 or 65537), got {exponent.hex().upper()} ({name})",
                              key=f"{where}.exponent", path=source)
        problem = _modulus_problem(modulus)
        if problem:
            raise ConfigError(f"{problem} ({name})", key=f"{where}.modulus", path=source)
        if not (isinstance(expiry, str) and len(expiry) == 4 and expiry.isdigit() and 1 <= int(expiry[:2]) <= 12):
            raise ConfigError(f"expiry must be MMYY, got {brief(expiry)} ({name})", key=f"{where}.expiry", path=source)
        if hashlib.sha1(rid + bytes([index]) + modulus + exponent).digest() != checksum:
            raise ConfigError(f"checksum does not match RID, index, modulus and exponent ({name})",
                              key=f"{where}.checksum", path=source)
        if (rid, index) in keys:
            raise ConfigError(f"a second key for RID {rid.hex().upper()} index {index:02X}", key=where, path=source)
        keys[(rid, index)] = CaKey(rid, index, int.from_bytes(modulus, "big"), int.from_bytes(exponent, "big"),
                                   expiry, len(modulus))
    revoked = set()
    for i, table in enumerate(_entries(data, "revoked", REVOKED_FIELDS, source)):
        where = f"revoked[{i}]"
        revoked.add((_hex(table, "rid", where, source, 5), _hex(table, "index", where, source, 1)[0],
                     _hex(table, "serial", where, source, 3)))
    return CaKeys(keys, frozenset(revoked))


class SetCaKey(Protocol):
    """A CA key of a parameter set as `ca_keys_from_set` reads it (agent/engine/paramset.py's `CaKeyEntry`)."""

    @property
    def rid(self) -> str: ...
    @property
    def index(self) -> int: ...
    @property
    def modulus(self) -> str: ...
    @property
    def exponent(self) -> str: ...
    @property
    def expiry(self) -> str: ...


def ca_keys_from_set(keys: Iterable[SetCaKey], revoked: Iterable[tuple[str, int, str]] = ()) -> CaKeys:
    """The CA keys of a parameter set (each checked when the set was made: agent/engine/paramset.py)."""
    found = {}
    for key in keys:
        rid, modulus = bytes.fromhex(key.rid), bytes.fromhex(key.modulus)
        found[(rid, key.index)] = CaKey(rid, key.index, int.from_bytes(modulus, "big"), int(key.exponent, 16),
                                        key.expiry[4:6] + key.expiry[2:4], len(modulus))
    return CaKeys(found, frozenset((bytes.fromhex(r), i, bytes.fromhex(s)) for r, i, s in revoked))


def set_entries(ca_keys: CaKeys) -> tuple[list[dict[str, str | int]], list[tuple[str, int, str]]]:
    """A key file's keys and revocations as a parameter set's entries (the files' set, for its digest)."""
    keys: list[dict[str, str | int]] = []
    for key in ca_keys.keys.values():
        modulus, exponent = key.modulus.to_bytes(key.size, "big"), key.exponent.to_bytes(1 if key.exponent < 256 else 3, "big")
        month, year = int(key.expiry[:2]), 2000 + int(key.expiry[2:])
        last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).strftime("%Y%m%d")
        keys.append({"rid": key.rid.hex().upper(), "index": key.index, "modulus": modulus.hex().upper(),
                     "exponent": exponent.hex().upper(), "expiry": last,
                     "checksum": hashlib.sha1(key.rid + bytes([key.index]) + modulus + exponent).hexdigest().upper()})
    return keys, sorted((r.hex().upper(), i, s.hex().upper()) for r, i, s in ca_keys.revoked)


# -- recovery ------------------------------------------------------------------------------------

def _recover(signature: bytes, modulus: int, exponent: int, size: int, fmt: int, what: str) -> bytes:
    if len(signature) != size:
        raise OdaFailure(f"{what}: {len(signature)} bytes, the key is {size}")
    recovered = pow(int.from_bytes(signature, "big"), exponent, modulus).to_bytes(size, "big")
    if recovered[0] != 0x6A or recovered[-1] != 0xBC or recovered[1] != fmt:
        raise OdaFailure(f"{what}: recovered data has no 6A..BC frame of format {fmt:02X}")
    return recovered


def _not_expired(mmyy: bytes, today: dt.date, what: str) -> None:
    month, year = int(mmyy[:1].hex()), 2000 + int(mmyy[1:].hex())
    if (year, month) < (today.year, today.month):
        raise OdaFailure(f"{what} expired {month:02d}/{year}")


def _sha1(*parts: bytes) -> bytes:
    return hashlib.sha1(b"".join(parts)).digest()


@dataclass(frozen=True)
class PublicKey:
    modulus: int
    exponent: int
    size: int


def _need(tags: Mapping[int, bytes], tag: int, name: str) -> bytes:
    value = tags.get(tag)
    if not value:
        raise OdaFailure(f"card lacks {name} ({tag:X})", missing=True)
    return value


def issuer_key(tags: Mapping[int, bytes], ca_keys: CaKeys, rid: bytes, pan: str, today: dt.date) -> PublicKey:
    """The issuer's public key from certificate 90 (format 02) under the CA key the card names in 8F."""
    index = _need(tags, 0x8F, "CA public key index")[0]
    ca = ca_keys.find(rid, index)
    if ca is None:
        raise OdaFailure(f"no CA public key {rid.hex().upper()}/{index:02X} on this terminal")
    _not_expired(bytes.fromhex(ca.expiry), today, f"CA public key {rid.hex().upper()}/{index:02X}")
    cert = _need(tags, 0x90, "issuer public key certificate")
    exponent = _need(tags, 0x9F32, "issuer public key exponent")
    rec = _recover(cert, ca.modulus, ca.exponent, ca.size, 0x02, "issuer certificate")
    issuer_id, expiry, serial = rec[2:6].hex().upper().rstrip("F"), rec[6:8], rec[8:11]
    hash_algo, length = rec[11], rec[13]
    leftmost = rec[15:ca.size - 21]
    remainder = tags.get(0x92, b"")
    if hash_algo != 0x01:
        raise OdaFailure(f"issuer certificate hash algorithm {hash_algo:02X} is not SHA-1")
    if _sha1(rec[1:ca.size - 21], remainder, exponent) != rec[ca.size - 21:ca.size - 1]:
        raise OdaFailure("issuer certificate hash does not match")
    if not pan.startswith(issuer_id):
        raise OdaFailure(f"issuer certificate is for {issuer_id}, not this card")
    _not_expired(expiry, today, "issuer certificate")
    if (rid, index, serial) in ca_keys.revoked:
        raise OdaFailure(f"issuer certificate {serial.hex().upper()} is revoked")
    modulus = (leftmost + remainder)[:length] if length > len(leftmost) else leftmost[:length]
    if len(modulus) != length:
        raise OdaFailure("issuer public key remainder (92) missing or short", missing=True)
    return PublicKey(int.from_bytes(modulus, "big"), int.from_bytes(exponent, "big"), length)


def icc_key(tags: Mapping[int, bytes], issuer: PublicKey, pan: str, static_data: bytes, today: dt.date) -> PublicKey:
    """The card's public key from 9F46 (format 04); its hash covers the static data to be authenticated."""
    cert = _need(tags, 0x9F46, "ICC public key certificate")
    exponent = _need(tags, 0x9F47, "ICC public key exponent")
    rec = _recover(cert, issuer.modulus, issuer.exponent, issuer.size, 0x04, "ICC certificate")
    cert_pan, expiry, length = rec[2:12].hex().upper().rstrip("F"), rec[12:14], rec[19]
    leftmost = rec[21:issuer.size - 21]
    remainder = tags.get(0x9F48, b"")
    if _sha1(rec[1:issuer.size - 21], remainder, exponent, static_data) != rec[issuer.size - 21:issuer.size - 1]:
        raise OdaFailure("ICC certificate hash does not match (card data altered?)")
    if cert_pan != pan:
        raise OdaFailure("ICC certificate is for another card number")
    _not_expired(expiry, today, "ICC certificate")
    modulus = (leftmost + remainder)[:length] if length > len(leftmost) else leftmost[:length]
    if len(modulus) != length:
        raise OdaFailure("ICC public key remainder (9F48) missing or short", missing=True)
    return PublicKey(int.from_bytes(modulus, "big"), int.from_bytes(exponent, "big"), length)


def verify_sda(tags: Mapping[int, bytes], issuer: PublicKey, static_data: bytes) -> None:
    ssad = _need(tags, 0x93, "signed static application data")
    rec = _recover(ssad, issuer.modulus, issuer.exponent, issuer.size, 0x03, "signed static data")
    if _sha1(rec[1:issuer.size - 21], static_data) != rec[issuer.size - 21:issuer.size - 1]:
        raise OdaFailure("signed static data hash does not match (card data altered?)")


def recover_sdad(sdad: bytes, icc: PublicKey, terminal_data: bytes) -> bytes:
    """Check signed dynamic data (format 05) and return the ICC dynamic data it carries."""
    rec = _recover(sdad, icc.modulus, icc.exponent, icc.size, 0x05, "signed dynamic data")
    if _sha1(rec[1:icc.size - 21], terminal_data) != rec[icc.size - 21:icc.size - 1]:
        raise OdaFailure("signed dynamic data hash does not match")
    length = rec[3]
    if 4 + length > icc.size - 21:
        raise OdaFailure("signed dynamic data: ICC dynamic data longer than the signature")
    return rec[4:4 + length]


def cda_cryptogram(sdad: bytes, icc: PublicKey, unpredictable_number: bytes, cid: bytes,
                   transaction_data: bytes) -> bytes:
    """CDA (§6.6): check 9F4B, its CID and transaction-data hash; return the AC the card signed."""
    dynamic = recover_sdad(sdad, icc, unpredictable_number)
    number_length = dynamic[0] if dynamic else 0
    body = dynamic[1 + number_length:]
    if len(body) != 1 + 8 + 20:
        raise OdaFailure("CDA: ICC dynamic data is not CID || AC || transaction data hash")
    if body[:1] != cid:
        raise OdaFailure("CDA: the signed cryptogram type differs from 9F27")
    if _sha1(transaction_data) != body[9:]:
        raise OdaFailure("CDA: transaction data hash does not match what the terminal sent")
    return body[1:9]


def static_data_to_authenticate(records: Iterable[bytes], aip: bytes, tag_list: bytes | None) -> bytes:
    """Book 3 §10.3: the ODA records' contents (SFI 1–10: inside the 70 template) then the AIP if 9F4A lists 82."""
    data = b"".join(records)
    if tag_list:
        if tag_list != b"\x82":
            raise OdaFailure("static data authentication tag list (9F4A) may only name the AIP (82)")
        data += aip
    return data
