"""The terminal's chip parameters as one value: the IC card application parameters per AID and the CA
public keys, with the versions the acquirer gave them and a digest over the whole.  No I/O here.

A set comes from the acquirer's download (TLV entries, `entry_from_tlv`) or from the local files (the
installation default).  Every entry is checked by its EMV format before a set is made of it: a CA key's
lengths, algorithms, expiry and checksum (SHA-1 of RID || index || modulus || exponent); an AID's fields
by their formats and ranges.  A defect is one `ParamError` naming the key or AID and the field.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, NoReturn

from agent.errors import PosagentError
from agent.iso8583 import CodecError, tlv

#: the CA public key sizes EMV allows (Book 2 Annex B2: up to 1984 bits; shorter than 512 is no key)
MODULUS_BYTES = (64, 248)
EXPONENTS = ("03", "010001")
MAX_DOL_BYTES = 252


class ParamError(PosagentError):
    """A parameter set or key that is refused; `item` names the key or AID, `field` what is wrong."""

    def __init__(self, message: str, *, item: str, field: str):
        self.item = item
        self.field = field
        super().__init__(f"{item}: {field}: {message}")


@dataclass(frozen=True)
class CaKeyEntry:
    rid: str  # 10 hex digits
    index: int
    modulus: str  # hex
    exponent: str  # hex: 03 or 010001
    expiry: str  # YYYYMMDD
    checksum: str  # 40 hex digits

    @property
    def name(self) -> str:
        return f"CA key {self.rid}/{self.index:02X}"


@dataclass(frozen=True)
class AidEntry:
    aid: str  # 10 to 32 hex digits
    asi: int = 0  # application selection indicator: 0 exact match, 1 partial match allowed
    app_version: str = "0030"  # 9F09 the terminal sends
    floor_limit: int = 0  # minor units
    tac_default: str = "DC4000A800"
    tac_online: str = "DC4004F800"
    tac_denial: str = "0010000000"
    threshold: int = 0  # for biased random selection, below the floor limit
    target_percent: int = 0
    max_target_percent: int = 0
    default_ddol: str = "9F3704"
    default_tdol: str = ""

    @property
    def name(self) -> str:
        return f"AID {self.aid}"


@dataclass(frozen=True)
class ParamSet:
    """The chip parameters in force or about to be: versions, AIDs, CA keys, where they came from."""

    params_version: str
    keys_version: str
    aids: tuple[AidEntry, ...] = ()
    keys: tuple[CaKeyEntry, ...] = ()
    source: str = "files"  # "files" (the installation default) or "download"
    revoked: tuple[tuple[str, int, str], ...] = field(default=())  # (RID, CA index, serial) from the files

    @property
    def version(self) -> str:
        return f"{self.params_version}/{self.keys_version}"

    def content(self) -> dict[str, Any]:
        """What the digest covers, in a canonical order (the source is not part of it)."""
        return {"params_version": self.params_version, "keys_version": self.keys_version,
                "aids": [asdict(a) for a in sorted(self.aids, key=lambda a: a.aid)],
                "keys": [asdict(k) for k in sorted(self.keys, key=lambda k: (k.rid, k.index))],
                "revoked": [list(r) for r in sorted(self.revoked)]}

    @property
    def digest(self) -> str:
        text = json.dumps(self.content(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("ascii")).hexdigest()

    def identity(self) -> dict[str, str]:
        """Version, digest and source: what the status, the console and every chip transaction's journal show."""
        return {"version": self.version, "digest": self.digest[:16], "source": self.source}

    @classmethod
    def from_content(cls, content: Mapping[str, Any], source: str) -> "ParamSet":
        return cls(params_version=content["params_version"], keys_version=content["keys_version"],
                   aids=tuple(AidEntry(**a) for a in content["aids"]),
                   keys=tuple(CaKeyEntry(**k) for k in content["keys"]), source=source,
                   revoked=tuple((r[0], int(r[1]), r[2]) for r in content.get("revoked", ())))

    def replacing(self, *, aids: tuple[AidEntry, ...] | None = None, params_version: str | None = None,
                  keys: tuple[CaKeyEntry, ...] | None = None, keys_version: str | None = None) -> "ParamSet":
        """This set with the parameters and/or the keys replaced whole (a set is never patched entry by entry)."""
        return ParamSet(params_version=params_version or self.params_version,
                        keys_version=keys_version or self.keys_version,
                        aids=self.aids if aids is None else aids, keys=self.keys if keys is None else keys,
                        source="download", revoked=self.revoked)


# -- checks ----------------------------------------------------------------------------------------

def _digits_date(value: str) -> dt.date | None:
    try:
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:8])) if len(value) == 8 and value.isdigit() else None
    except ValueError:
        return None


def check_key(key: CaKeyEntry, today: dt.date | None = None) -> None:
    """Every rule a CA key must meet before it is used; `today`: refuse one already expired."""
    name = key.name

    def refuse(field_name: str, message: str) -> NoReturn:
        raise ParamError(message, item=name, field=field_name)

    if len(key.rid) != 10:
        refuse("rid", f"expected 5 bytes, got {len(key.rid) // 2}")
    if not 0 <= key.index <= 0xFF:
        refuse("index", "expected one byte")
    modulus = bytes.fromhex(key.modulus)
    lo, hi = MODULUS_BYTES
    if not lo <= len(modulus) <= hi:
        refuse("modulus", f"expected {lo} to {hi} bytes, got {len(modulus)}")
    if modulus[0] == 0 or modulus[-1] % 2 == 0:
        refuse("modulus", "not an RSA modulus (leading zero byte or even)")
    if key.exponent.upper() not in EXPONENTS:
        refuse("exponent", f"expected 03 or 010001, got {key.exponent.upper() or 'nothing'}")
    expiry = _digits_date(key.expiry)
    if expiry is None:
        refuse("expiry", f"expected a date YYYYMMDD, got {key.expiry!r}")
    if today is not None and expiry < today:
        refuse("expiry", f"expired {key.expiry}")
    if len(key.checksum) != 40:
        refuse("checksum", f"expected 20 bytes, got {len(key.checksum) // 2}")
    expected = hashlib.sha1(bytes.fromhex(key.rid) + bytes([key.index]) + modulus
                            + bytes.fromhex(key.exponent)).hexdigest().upper()
    if key.checksum.upper() != expected:
        refuse("checksum", "does not match RID, index, modulus and exponent")


def _dol_problem(dol: bytes) -> str | None:
    """Why `dol` is not a data object list (tag, length pairs), or None."""
    if len(dol) > MAX_DOL_BYTES:
        return f"longer than {MAX_DOL_BYTES} bytes"
    try:
        tlv.dol_items(dol)
    except ValueError as exc:
        return str(exc)
    return None


def check_aid(entry: AidEntry) -> None:
    """Every rule an AID's parameters must meet (EMV Book 3 formats; §10.6 for the random selection)."""
    name = entry.name

    def refuse(field_name: str, message: str) -> NoReturn:
        raise ParamError(message, item=name, field=field_name)

    if not (10 <= len(entry.aid) <= 32 and len(entry.aid) % 2 == 0):
        refuse("aid", f"expected 5 to 16 bytes, got {len(entry.aid) / 2:g}")
    if entry.asi not in (0, 1):
        refuse("asi", f"expected 0 or 1, got {entry.asi}")
    if len(entry.app_version) != 4:
        refuse("app_version", f"expected 2 bytes, got {len(entry.app_version) / 2:g}")
    for code in ("tac_default", "tac_online", "tac_denial"):
        if len(getattr(entry, code)) != 10:
            refuse(code, f"expected 5 bytes, got {len(getattr(entry, code)) / 2:g}")
    if not 0 <= entry.floor_limit <= 0xFFFFFFFF:
        refuse("floor_limit", "expected 4 binary bytes")
    if not 0 <= entry.threshold <= 0xFFFFFFFF:
        refuse("threshold", "expected 4 binary bytes")
    if entry.floor_limit and entry.threshold >= entry.floor_limit:
        refuse("threshold", f"must be below the floor limit {entry.floor_limit}, got {entry.threshold}")
    for pct in ("target_percent", "max_target_percent"):
        if not 0 <= getattr(entry, pct) <= 99:
            refuse(pct, f"expected 0 to 99, got {getattr(entry, pct)}")
    if entry.target_percent > entry.max_target_percent:
        refuse("target_percent", f"above the maximum target percentage {entry.max_target_percent}")
    for dol_name in ("default_ddol", "default_tdol"):
        problem = _dol_problem(bytes.fromhex(getattr(entry, dol_name)))
        if problem:
            refuse(dol_name, f"not a data object list: {problem}")
    if "9F37" not in entry.default_ddol.upper():
        refuse("default_ddol", "must ask for the unpredictable number (9F37)")


def check_set(params: ParamSet, today: dt.date | None = None) -> None:
    """A whole set: each entry, and no AID or key given twice."""
    seen: set[Any] = set()
    for key in params.keys:
        check_key(key, today)
        if (key.rid, key.index) in seen:
            raise ParamError("given twice", item=key.name, field="index")
        seen.add((key.rid, key.index))
    for entry in params.aids:
        check_aid(entry)
        if entry.aid in seen:
            raise ParamError("given twice", item=entry.name, field="aid")
        seen.add(entry.aid)


# -- from the acquirer's TLV ----------------------------------------------------------------------

def _values(data: bytes, item: str) -> dict[int, bytes]:
    try:
        return {t.tag: t.value for t in tlv.decode(data, field="62")}
    except CodecError as exc:
        raise ParamError(f"malformed TLV ({exc})", item=item, field="62") from None


def _need(values: Mapping[int, bytes], tags: Mapping[str, int], name: str, item: str) -> bytes:
    value = values.get(tags[name])
    if value is None:
        raise ParamError(f"missing (tag {tags[name]:X})", item=item, field=name)
    return value


def _bcd_digits(raw: bytes, item: str, field_name: str) -> str:
    text = raw.hex().upper()
    if not text.isdigit():
        raise ParamError(f"expected BCD digits, got {text}", item=item, field=field_name)
    return text


def _one_byte(raw: bytes, item: str, field_name: str) -> int:
    if len(raw) != 1:
        raise ParamError(f"expected 1 byte, got {len(raw)}", item=item, field=field_name)
    return raw[0]


def key_from_tlv(data: bytes, tags: Mapping[str, int], *, asked: str = "CA key") -> CaKeyEntry:
    """A CA key from its download answer's TLV, formats checked (the rules: `check_key`)."""
    values = _values(data, asked)
    rid = _need(values, tags, "rid", asked)
    index = _one_byte(_need(values, tags, "index", asked), asked, "index")
    item = f"CA key {rid.hex().upper()}/{index:02X}"
    if _one_byte(_need(values, tags, "hash_algorithm", item), item, "hash_algorithm") != 0x01:
        raise ParamError("expected 01 (SHA-1)", item=item, field="hash_algorithm")
    if _one_byte(_need(values, tags, "key_algorithm", item), item, "key_algorithm") != 0x01:
        raise ParamError("expected 01 (RSA)", item=item, field="key_algorithm")
    expiry = _need(values, tags, "expiry", item)
    if len(expiry) != 4:
        raise ParamError(f"expected 4 bytes YYYYMMDD, got {len(expiry)}", item=item, field="expiry")
    return CaKeyEntry(rid=rid.hex().upper(), index=index, modulus=_need(values, tags, "modulus", item).hex().upper(),
                      exponent=_need(values, tags, "exponent", item).hex().upper(),
                      expiry=_bcd_digits(expiry, item, "expiry"),
                      checksum=_need(values, tags, "checksum", item).hex().upper())


def _binary_int(values: Mapping[int, bytes], tags: Mapping[str, int], name: str, item: str, size: int,
                default: int) -> int:
    raw = values.get(tags[name])
    if raw is None:
        return default
    if len(raw) != size:
        raise ParamError(f"expected {size} binary byte{'s' * (size > 1)}, got {len(raw)}", item=item, field=name)
    return int.from_bytes(raw, "big")


def aid_from_tlv(data: bytes, tags: Mapping[str, int], *, asked: str = "AID") -> AidEntry:
    """An AID's parameters from its download answer's TLV; optional fields take the EMV defaults."""
    values = _values(data, asked)
    aid = _need(values, tags, "aid", asked)
    item = f"AID {aid.hex().upper()}"
    defaults = AidEntry(aid="")

    def hex_of(name: str) -> str:
        raw = values.get(tags[name])
        return getattr(defaults, name) if raw is None else raw.hex().upper()

    return AidEntry(aid=aid.hex().upper(), asi=_binary_int(values, tags, "asi", item, 1, 0),
                    app_version=hex_of("app_version"), floor_limit=_binary_int(values, tags, "floor_limit", item, 4, 0),
                    tac_default=hex_of("tac_default"), tac_online=hex_of("tac_online"), tac_denial=hex_of("tac_denial"),
                    threshold=_binary_int(values, tags, "threshold", item, 4, 0),
                    target_percent=_binary_int(values, tags, "target_percent", item, 1, 0),
                    max_target_percent=_binary_int(values, tags, "max_target_percent", item, 1, 0),
                    default_ddol=hex_of("default_ddol"), default_tdol=hex_of("default_tdol"))


def key_to_tlv(key: CaKeyEntry, tags: Mapping[str, int]) -> bytes:
    """The TLV a download answer carries for `key` (the acquirer's side, and tests)."""
    return tlv.encode([tlv.Tlv(tags["rid"], bytes.fromhex(key.rid)), tlv.Tlv(tags["index"], bytes([key.index])),
                       tlv.Tlv(tags["expiry"], bytes.fromhex(key.expiry)), tlv.Tlv(tags["hash_algorithm"], b"\x01"),
                       tlv.Tlv(tags["key_algorithm"], b"\x01"), tlv.Tlv(tags["modulus"], bytes.fromhex(key.modulus)),
                       tlv.Tlv(tags["exponent"], bytes.fromhex(key.exponent)),
                       tlv.Tlv(tags["checksum"], bytes.fromhex(key.checksum))])


def aid_to_tlv(entry: AidEntry, tags: Mapping[str, int]) -> bytes:
    """The TLV a download answer carries for an AID's parameters."""
    items = [tlv.Tlv(tags["aid"], bytes.fromhex(entry.aid)), tlv.Tlv(tags["asi"], bytes([entry.asi]))]
    for name in ("app_version", "tac_default", "tac_online", "tac_denial", "default_ddol", "default_tdol"):
        if getattr(entry, name):
            items.append(tlv.Tlv(tags[name], bytes.fromhex(getattr(entry, name))))
    items += [tlv.Tlv(tags["floor_limit"], entry.floor_limit.to_bytes(4, "big")),
              tlv.Tlv(tags["threshold"], entry.threshold.to_bytes(4, "big")),
              tlv.Tlv(tags["target_percent"], bytes([entry.target_percent])),
              tlv.Tlv(tags["max_target_percent"], bytes([entry.max_target_percent]))]
    return tlv.encode(items)


def ca_key_entry(rid: bytes, index: int, modulus: bytes, exponent: bytes, expiry: str) -> CaKeyEntry:
    """A key with its checksum computed (the acquirer's side, and tests); `expiry` YYYYMMDD."""
    checksum = hashlib.sha1(rid + bytes([index]) + modulus + exponent).hexdigest().upper()
    return CaKeyEntry(rid.hex().upper(), index, modulus.hex().upper(), exponent.hex().upper(), expiry, checksum)
