"""The acquirer's chip parameters and CA public keys per terminal, and the download messages that serve them.

A published set (`ParamHost`) has a parameters version and a keys version; the sign-on answer announces
both (the dialect's notice field), and the terminal downloads what is newer: the list queries, one message
per key or AID, the end-of-download messages, then its status upload (the dialect's `param_download`).
`posim host params publish|rotate|revoke|corrupt|page|show` change it at run time through the control port;
a list longer than one answer comes in pages (the dialect's `more`).

Content faults for tests: `corrupt` serves a key with a wrong checksum, a short modulus, or an AID whose
target percentage is out of range — the terminal must refuse the whole set and keep its own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable

from agent.engine.paramset import (AidEntry, CaKeyEntry, ParamError, aid_to_tlv, ca_key_entry, check_aid, check_key,
                                   key_to_tlv)
from agent.iso8583 import CodecError, tlv
from agent.iso8583.dialect import ParamDownloadSpec
from simulator.host import codes

if TYPE_CHECKING:
    from agent.iso8583 import Message
    from simulator.host.processing import HostProcessor, Request

#: the UnionPay applications a published set covers unless told otherwise
UNIONPAY_AIDS = ("A0000003330101", "A0000003330102", "A0000003330103")
CORRUPTIONS = ("checksum", "modulus-length", "aid-range")
ANY_TERMINAL = "*"


class ParamHostError(ValueError):
    """A publish, rotate or revoke that cannot be done; the message says why."""


@dataclass
class Published:
    params_version: int = 0
    keys_version: int = 0
    aids: dict[str, AidEntry] = field(default_factory=dict)
    keys: dict[str, CaKeyEntry] = field(default_factory=dict)  # "RID/II" → key
    corrupt: str | None = None
    status: dict[str, str] = field(default_factory=dict)  # the terminal's last status upload

    def as_dict(self) -> dict[str, Any]:
        return {"params_version": f"{self.params_version:08d}", "keys_version": f"{self.keys_version:08d}",
                "aids": sorted(self.aids), "keys": sorted(self.keys), "corrupt": self.corrupt,
                "status": self.status}


class ParamHost:
    """Published sets: one per terminal that has its own, else the one for every terminal."""

    def __init__(self) -> None:
        self.sets: dict[str, Published] = {}
        #: the most entries one list answer holds (None: as many as fit the data field); `posim host params
        #: page N` sets it, so a short list still comes in pages
        self.page_entries: int | None = None

    def for_terminal(self, tid: str) -> Published:
        return self.sets.get(tid) or self.sets.setdefault(ANY_TERMINAL, Published())

    def _own(self, tid: str | None) -> Published:
        key = tid or ANY_TERMINAL
        if key not in self.sets:
            base = self.sets.get(ANY_TERMINAL, Published())
            self.sets[key] = Published(base.params_version, base.keys_version, dict(base.aids), dict(base.keys))
        return self.sets[key]

    def publish(self, tid: str | None = None, *, aids: tuple[str, ...] = UNIONPAY_AIDS, **values: Any) -> Published:
        """A new parameter set: each AID with `values` (AidEntry fields), checked before it is served."""
        entries = {}
        for aid in aids:
            entry = AidEntry(aid=aid.upper(), **values)
            try:
                check_aid(entry)
            except (ParamError, TypeError, ValueError) as exc:
                raise ParamHostError(str(exc)) from None
            entries[entry.aid] = entry
        target = self._own(tid)
        target.aids = entries
        target.params_version += 1
        return target

    def rotate(self, key: CaKeyEntry, tid: str | None = None) -> Published:
        """Add (or replace) a CA key: the keys version goes up."""
        try:
            check_key(key)
        except ParamError as exc:
            raise ParamHostError(str(exc)) from None
        target = self._own(tid)
        target.keys[f"{key.rid}/{key.index:02X}"] = key
        target.keys_version += 1
        return target

    def revoke(self, name: str, tid: str | None = None) -> Published:
        """Withdraw a CA key ("RID/II"): it is no longer served, and the keys version goes up."""
        target = self._own(tid)
        if name.upper() not in target.keys:
            raise ParamHostError(f"no CA key {name} is published (published: {', '.join(sorted(target.keys)) or 'none'})")
        del target.keys[name.upper()]
        target.keys_version += 1
        return target

    def set_corrupt(self, kind: str | None, tid: str | None = None) -> Published:
        if kind is not None and kind not in CORRUPTIONS:
            raise ParamHostError(f"unknown corruption {kind!r} (known: {', '.join(CORRUPTIONS)})")
        target = self._own(tid)
        target.corrupt = kind
        return target

    def notice(self, tid: str, digits: int) -> str:
        published = self.for_terminal(tid)
        return f"{published.params_version:0{digits}d}{published.keys_version:0{digits}d}"

    # -- the control channel ---------------------------------------------------------------------
    def control(self, request: dict[str, Any]) -> dict[str, Any]:
        action = request.get("action")
        tid = request.get("terminal") or None
        try:
            if action == "show":
                return {"ok": True, "sets": {k: v.as_dict() for k, v in self.sets.items()}}
            if action == "publish":
                values = {k: request[k] for k in ("floor_limit", "tac_default", "tac_online", "tac_denial",
                                                   "threshold", "target_percent", "max_target_percent",
                                                   "app_version", "default_ddol") if request.get(k) is not None}
                published = self.publish(tid, aids=tuple(request.get("aids") or UNIONPAY_AIDS), **values)
            elif action == "rotate":
                k = request["key"]
                published = self.rotate(ca_key_entry(bytes.fromhex(k["rid"]), int(k["index"], 16),
                                                     bytes.fromhex(k["modulus"]), bytes.fromhex(k["exponent"]),
                                                     k["expiry"]), tid)
            elif action == "revoke":
                published = self.revoke(str(request.get("key", "")), tid)
            elif action == "corrupt":
                published = self.set_corrupt(request.get("kind") or None, tid)
            elif action == "page":
                entries = request.get("entries")
                if entries is not None and (isinstance(entries, bool) or not isinstance(entries, int) or entries < 1):
                    raise ParamHostError(f"entries per list answer must be a whole number from 1, not {entries!r}")
                self.page_entries = entries
                return {"ok": True, "page_entries": entries}
            else:
                return {"ok": False, "error": f"unknown params action {action!r} "
                                              "(known: show, publish, rotate, revoke, corrupt, page)"}
        except (ParamHostError, KeyError, ValueError, TypeError) as exc:
            return {"ok": False, "error": str(exc) or "bad request"}
        return {"ok": True, "set": published.as_dict()}


# -- serving the download messages ---------------------------------------------------------------

def _spec(host: "HostProcessor") -> ParamDownloadSpec:
    """The dialect's download messages (a dialect without them routes none of these handlers: `routes`)."""
    spec = host.dialect.param_download
    if spec is None:
        raise LookupError(f"dialect {host.dialect.name} has no chip parameter download")
    return spec


def _version(host: "HostProcessor", value: int) -> str:
    return f"{value:0{_spec(host).version_digits}d}"


def _entry_request(host: "HostProcessor", req: "Request") -> dict[int, bytes]:
    raw = req.msg.get(_spec(host).data_field)
    return {t.tag: t.value for t in tlv.decode(raw, field="62")} if isinstance(raw, bytes) else {}


def _served_key(key: CaKeyEntry, corrupt: str | None) -> CaKeyEntry:
    if corrupt == "checksum":
        return replace(key, checksum=("00" if key.checksum[:2] != "00" else "11") + key.checksum[2:])
    if corrupt == "modulus-length":
        return replace(key, modulus=key.modulus[:2 * 40] + "01")
    return key


#: how much of the data field one list answer may fill, after its first character (field 62: 512 bytes)
PAGE_BYTES = 511


def _list_answer(host: "HostProcessor", req: "Request", version: int, entries: list[list[tlv.Tlv]]) -> "Message":
    """A list query's answer: the entries from the offset the query names (none: from the first) that fit one
    answer (`ParamHost.page_entries` at most, when set), marked `more` when others follow."""
    spec = _spec(host)
    raw = req.msg.get(spec.data_field)
    offset = 0
    if isinstance(raw, bytes) and raw:
        text = raw.decode("ascii", "replace")
        if len(text) != spec.offset_digits or not text.isdigit():
            return host.answer(req, codes.FORMAT_ERROR)
        offset = int(text)
    page: list[tlv.Tlv] = []
    taken = 0
    limit = host.params.page_entries
    for entry in entries[offset:]:
        if (limit is not None and taken >= limit) or (page and len(tlv.encode(page + entry)) > PAGE_BYTES):
            break
        page += entry
        taken += 1
    if not page:
        data = spec.none.encode()
    else:
        data = (spec.more if offset + taken < len(entries) else spec.found).encode() + tlv.encode(page)
    return host.answer(req, codes.APPROVED, {spec.version_field: _version(host, version), spec.data_field: data})


def keys_query(host: "HostProcessor", req: "Request") -> "Message":
    spec = _spec(host)
    published = host.params.for_terminal(req.tid)
    entries = [[tlv.Tlv(spec.key_tags["rid"], bytes.fromhex(key.rid)), tlv.Tlv(spec.key_tags["index"], bytes([key.index]))]
               for key in published.keys.values()]
    return _list_answer(host, req, published.keys_version, entries)


def aids_query(host: "HostProcessor", req: "Request") -> "Message":
    spec = _spec(host)
    published = host.params.for_terminal(req.tid)
    return _list_answer(host, req, published.params_version,
                        [[tlv.Tlv(spec.aid_tags["aid"], bytes.fromhex(aid))] for aid in published.aids])


def key(host: "HostProcessor", req: "Request") -> "Message":
    spec = _spec(host)
    published = host.params.for_terminal(req.tid)
    try:
        asked = _entry_request(host, req)
        name = f"{asked[spec.key_tags['rid']].hex().upper()}/{asked[spec.key_tags['index']].hex().upper()}"
    except (CodecError, KeyError):
        return host.answer(req, codes.FORMAT_ERROR)
    found = published.keys.get(name)
    if found is None:
        return host.answer(req, codes.APPROVED, {spec.data_field: spec.none.encode()})
    served = key_to_tlv(_served_key(found, published.corrupt), spec.key_tags)
    return host.answer(req, codes.APPROVED, {spec.data_field: spec.found.encode() + served})


def aid(host: "HostProcessor", req: "Request") -> "Message":
    spec = _spec(host)
    published = host.params.for_terminal(req.tid)
    try:
        name = _entry_request(host, req)[spec.aid_tags["aid"]].hex().upper()
    except (CodecError, KeyError):
        return host.answer(req, codes.FORMAT_ERROR)
    found = published.aids.get(name)
    if found is None:
        return host.answer(req, codes.APPROVED, {spec.data_field: spec.none.encode()})
    if published.corrupt == "aid-range":
        found = replace(found, target_percent=150, max_target_percent=150)
    return host.answer(req, codes.APPROVED, {spec.data_field: spec.found.encode() + aid_to_tlv(found, spec.aid_tags)})


def keys_end(host: "HostProcessor", req: "Request") -> "Message":
    spec = _spec(host)
    return host.answer(req, codes.APPROVED, {spec.version_field: _version(
        host, host.params.for_terminal(req.tid).keys_version)})


def aids_end(host: "HostProcessor", req: "Request") -> "Message":
    spec = _spec(host)
    return host.answer(req, codes.APPROVED, {spec.version_field: _version(
        host, host.params.for_terminal(req.tid).params_version)})


def status(host: "HostProcessor", req: "Request") -> "Message":
    spec = _spec(host)
    try:
        values = _entry_request(host, req)
    except CodecError:
        return host.answer(req, codes.FORMAT_ERROR)
    names = {tag: name for name, tag in spec.status_tags.items()}
    host.params.for_terminal(req.tid).status = {
        names[tag]: (value.decode("ascii", "replace") if names[tag] != "digest" else value.hex().upper())
        for tag, value in values.items() if tag in names} | {"at": req.now.isoformat()}
    return host.answer(req, codes.APPROVED)


HANDLERS = {"keys_query": keys_query, "key": key, "keys_end": keys_end, "aids_query": aids_query, "aid": aid,
            "aids_end": aids_end, "status": status}


def routes(spec: ParamDownloadSpec | None) -> tuple[tuple[str, None, None, str, Callable[[HostProcessor, Request], Message]], ...]:
    """The router's rows for the download messages of a dialect (ahead of sign-on: both are 0800)."""
    if spec is None:
        return ()
    return tuple((mti, None, None, nmc, HANDLERS[step]) for step, (mti, nmc) in spec.steps.items())


def key_from_file_entry(rid: str, index: str, modulus: str, exponent: str, expiry_mmyy: str) -> CaKeyEntry:
    """A key given as the terminal's CA key file writes it (expiry MMYY: the month's last day)."""
    month, year = int(expiry_mmyy[:2]), 2000 + int(expiry_mmyy[2:])
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).strftime("%Y%m%d")
    return ca_key_entry(bytes.fromhex(rid), int(index, 16), bytes.fromhex(modulus), bytes.fromhex(exponent), last)
