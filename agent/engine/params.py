"""Downloading the chip parameters and CA public keys from the acquirer (IC卡参数 / 公钥下载), sans-IO.

The plan, as the dialect declares the messages (`ParamDownloadSpec`):

1. ask for the list of CA keys and of AIDs, each with the version of the set it belongs to;
2. for each part whose version is newer than the set in force: stage the download in the journal, then
   fetch each entry not staged yet (so a download cut anywhere resumes where it stopped), checking each
   by its EMV formats as it arrives, then the end-of-download message (whose version must still be the
   one listed: a set published meanwhile starts the download again);
3. check the whole new set and install it in one journal commit — the old set stays in force until that
   commit, and only a plan run under the operation lock gets here, so never during a transaction;
4. report the terminal's state (status upload).

A malformed entry refuses the whole download with one line naming the key or AID and the field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from agent.engine.common import Gen, connect, flush_reversals, sign_on_answer
from agent.engine.effects import EngineError, Exchange, NoAnswer, Notify, Outcome
from agent.engine.paramset import (ParamError, ParamSet, aid_from_tlv, check_aid, check_key, check_set,
                                   key_from_tlv)
from agent.engine.port import ask
from agent.engine.requests import Profile
from agent.iso8583 import Message, tlv
from agent.iso8583.dialect import ParamDownloadSpec
from agent.engine.netmgmt import NetworkResponseError, build_network, check_network_response

TRIGGERS = ("signon", "technician", "schedule")


@dataclass(frozen=True)
class DownloadRequest:
    spec: ParamDownloadSpec
    files: ParamSet  # the installation default: in force until a downloaded set is installed
    today: dt.date  # CA keys already expired are refused
    trigger: str = "technician"


def in_force(record: Any, files: ParamSet) -> ParamSet:
    """The set in force: the downloaded one installed last, else the local files."""
    return ParamSet.from_content(record.content, "download") if record is not None else files


def newer(announced: str | None, held: str) -> bool:
    if not announced:
        return False
    return announced.isdigit() and (not held.isdigit() or int(announced) > int(held))


def announced_versions(spec: ParamDownloadSpec, answer: Message) -> tuple[str, str] | None:
    """(parameters version, keys version) the sign-on answer announces, or None."""
    text = answer.get(spec.notice_field)
    n = spec.version_digits
    if not isinstance(text, str) or len(text) < 2 * n or not text[:2 * n].isdigit():
        return None
    return text[:n], text[n:2 * n]


class _Stopped(Exception):
    """One download step got no usable answer (the plan turns it into one operator line)."""


class _Superseded(Exception):
    """The acquirer published another set while this one was being downloaded."""


def _exchange(profile: Profile, spec: ParamDownloadSpec, step: str, batch: str,
              data: bytes | None = None) -> Gen:
    mti, nmc = spec.steps[step]
    trace = yield from ask.take_trace("network")
    request = build_network(profile.as_config(), trace, mti, nmc, batch=batch,
                            fields={spec.data_field: data} if data is not None else None)
    result = yield Exchange(request)
    if isinstance(result, NoAnswer):
        raise _Stopped(f"{step} ({mti} {nmc}): {result.detail}")
    try:
        check_network_response(request, result.message)
    except NetworkResponseError as exc:
        raise _Stopped(f"{step} ({mti} {nmc}): {exc}") from None
    return result.message


def _data(spec: ParamDownloadSpec, answer: Message, step: str) -> bytes | None:
    """The answer's entries (after the found marker), or None when the acquirer says there are none."""
    raw = answer.get(spec.data_field)
    if not isinstance(raw, bytes) or not raw or raw[:1] == spec.none.encode():
        return None
    if raw[:1] != spec.found.encode():
        raise _Stopped(f"{step}: field {spec.data_field} starts with {raw[:1].hex().upper()}, "
                       f"not {spec.found!r} or {spec.none!r}")
    return raw[1:]


def _version(spec: ParamDownloadSpec, answer: Message, step: str) -> str:
    text = answer.get(spec.version_field)
    if not isinstance(text, str) or not text.isdigit():
        raise _Stopped(f"{step}: no set version in field {spec.version_field}")
    return text[-spec.version_digits:].rjust(spec.version_digits, "0")


#: a list longer than this many answers is refused (an acquirer that never says "last page")
MAX_LIST_PAGES = 64


def _listing(profile: Profile, spec: ParamDownloadSpec, step: str, batch: str, names: tuple[int, ...]) -> Gen:
    """(version, [entry names as hex of the listed tags]) from a list query's answers: a list longer than one
    answer comes in pages (the answer's data starts with the dialect's `more`), each next query saying how
    many entries the terminal holds; every page must list the same version."""
    version: str | None = None
    entries: list[str] = []
    for _page in range(MAX_LIST_PAGES):
        offset = str(len(entries)).zfill(spec.offset_digits).encode("ascii") if entries else None
        answer = yield from _exchange(profile, spec, step, batch, offset)
        page_version = _version(spec, answer, step)
        if version is not None and page_version != version:
            raise _Stopped(f"{step}: the list changed while it was read (version {version}, then {page_version})")
        version = page_version
        raw = answer.get(spec.data_field)
        more = isinstance(raw, bytes) and raw[:1] == spec.more.encode()
        data = raw[1:] if more else _data(spec, answer, step)
        page = _entries(data, spec, step, names) if data else []
        if more and not page:
            raise _Stopped(f"{step}: the answer says more entries follow after {len(entries)} but lists none")
        twice = sorted(set(page) & set(entries)) or sorted({e for e in page if page.count(e) > 1})
        if twice:
            raise _Stopped(f"{step}: entry {twice[0]} listed twice")
        entries += page
        if not more:
            return version, entries
    raise _Stopped(f"{step}: the list goes on past {MAX_LIST_PAGES} answers")


def _entries(data: bytes, spec: ParamDownloadSpec, step: str, names: tuple[int, ...]) -> list[str]:
    """One answer's entries: each starts at the first of `names`' tags."""
    try:
        items = tlv.decode(data, field=str(spec.data_field))
    except Exception as exc:  # a list that cannot be read is no list
        raise _Stopped(f"{step}: malformed list ({exc})") from None
    entries: list[str] = []
    current: list[bytes] = []
    for item in items:
        if item.tag == names[0] and current:
            entries.append("".join(v.hex().upper() for v in current))
            current = []
        if item.tag in names:
            current.append(item.value)
    if current:
        entries.append("".join(v.hex().upper() for v in current))
    return entries


def _key_request(spec: ParamDownloadSpec, name: str) -> bytes:
    tags = spec.key_tags
    return tlv.encode([tlv.Tlv(tags["rid"], bytes.fromhex(name[:10])), tlv.Tlv(tags["index"], bytes.fromhex(name[10:]))])


def _aid_request(spec: ParamDownloadSpec, name: str) -> bytes:
    return tlv.encode([tlv.Tlv(spec.aid_tags["aid"], bytes.fromhex(name))])


def download(profile: Profile, request: DownloadRequest) -> Gen:
    """The whole download (see the module docstring); an Outcome of operation "params_download"."""
    spec = request.spec
    yield from connect(profile)
    yield from flush_reversals(profile)
    record = yield from ask.params_in_force()
    current = in_force(record, request.files)
    batch = f"{(yield from ask.open_batch()).number:06d}"
    staged = None
    try:
        yield Notify("Asking the acquirer for its chip parameters…")
        keys_version, key_names = yield from _listing(profile, spec, "keys_query", batch,
                                                      (spec.key_tags["rid"], spec.key_tags["index"]))
        params_version, aid_names = yield from _listing(profile, spec, "aids_query", batch, (spec.aid_tags["aid"],))
        want_keys = keys_version if newer(keys_version, current.keys_version) else None
        want_params = params_version if newer(params_version, current.params_version) else None
        if want_keys is None and want_params is None:
            return Outcome("params_download", "done", f"chip parameters up to date: version {current.version} "
                           f"({current.source}), digest {current.digest[:16]}", details=current.identity())
        staged = yield from ask.params_download_open()
        listed = (want_params, want_keys, tuple(key_names) if want_keys else (), tuple(aid_names) if want_params else ())
        if staged is None or (staged.params_version, staged.keys_version, staged.key_list, staged.aid_list) != listed:
            staged = yield from ask.params_download_begin(trigger=request.trigger, params_version=want_params,
                                                          keys_version=want_keys, key_list=list(listed[2]),
                                                          aid_list=list(listed[3]))
        have = yield from ask.params_items(staged.id)
        if want_keys is not None:
            yield from _fetch_all(profile, spec, staged.id, "key", listed[2], have, batch, request.today)
            yield from _end(profile, spec, "keys_end", batch, want_keys)
        if want_params is not None:
            yield from _fetch_all(profile, spec, staged.id, "aid", listed[3], have, batch, request.today)
            yield from _end(profile, spec, "aids_end", batch, want_params)
        have = yield from ask.params_items(staged.id)
        new = current.replacing(
            keys=tuple(key_from_tlv(have[f"key {n}"], spec.key_tags) for n in listed[2]) if want_keys else None,
            keys_version=want_keys,
            aids=tuple(aid_from_tlv(have[f"aid {n}"], spec.aid_tags) for n in listed[3]) if want_params else None,
            params_version=want_params)
        check_set(new, request.today)
    except ParamError as exc:
        if staged is not None:
            yield from ask.params_download_end(staged.id, "refused", str(exc))
        raise EngineError(f"chip parameters refused, nothing changed: {exc}; in force: version {current.version} "
                          f"({current.source})", code="params_refused") from None
    except _Stopped as exc:
        resume = " (the next download resumes where this one stopped)" if staged is not None else ""
        raise EngineError(f"chip parameter download stopped at {exc}; in force: version {current.version} "
                          f"({current.source}){resume}", code="params_stopped") from None
    except _Superseded as exc:
        assert staged is not None  # superseded while fetching: after the download was staged
        yield from ask.params_download_end(staged.id, "abandoned", str(exc))
        raise EngineError(f"chip parameter download abandoned: {exc}; in force: version {current.version} "
                          f"({current.source}); download again", code="params_stopped") from None
    yield from ask.params_install(staged.id, content=new.content(), digest=new.digest)
    reported = yield from _status_upload(profile, spec, batch, new)
    return Outcome("params_download", "done",
                   f"chip parameters installed: version {new.version}, digest {new.digest[:16]} "
                   f"({len(new.aids)} AIDs, {len(new.keys)} CA keys){'' if reported else '; status upload failed'}",
                   details={**new.identity(), "status_reported": reported,
                            "replaced": current.identity()})


def _fetch_all(profile: Profile, spec: ParamDownloadSpec, download_id: int, kind: str, names: tuple[str, ...],
               have: dict[str, bytes], batch: str, today: dt.date) -> Gen:
    step = "key" if kind == "key" else "aid"
    for n, name in enumerate(names, 1):
        if f"{kind} {name}" in have:
            continue
        yield Notify(f"Downloading {'CA key' if kind == 'key' else 'AID'} {name} ({n}/{len(names)})…")
        data = _key_request(spec, name) if kind == "key" else _aid_request(spec, name)
        answer = yield from _exchange(profile, spec, step, batch, data)
        entry_data = _data(spec, answer, step)
        asked = f"CA key {name[:10]}/{name[10:]}" if kind == "key" else f"AID {name}"
        if entry_data is None:
            raise ParamError("the acquirer listed it but has no such entry", item=asked, field=kind)
        if kind == "key":
            key = key_from_tlv(entry_data, spec.key_tags, asked=asked)
            if key.name != asked:
                raise ParamError(f"the answer holds {key.name}", item=asked, field="rid/index")
            check_key(key, today)
        else:
            aid = aid_from_tlv(entry_data, spec.aid_tags, asked=asked)
            if aid.name != asked:
                raise ParamError(f"the answer holds {aid.name}", item=asked, field="aid")
            check_aid(aid)
        yield from ask.params_item(download_id, kind, name, entry_data)


def _end(profile: Profile, spec: ParamDownloadSpec, step: str, batch: str, version: str) -> Gen:
    answer = yield from _exchange(profile, spec, step, batch)
    now = _version(spec, answer, step)
    if now != version:
        raise _Superseded(f"the acquirer published version {now} while {version} was downloading")


def _status_upload(profile: Profile, spec: ParamDownloadSpec, batch: str, params: ParamSet) -> Gen:
    """Tell the acquirer which set is in force; True when it took it.  A failure changes nothing here."""
    tags = spec.status_tags
    data = tlv.encode([tlv.Tlv(tags["params_version"], params.params_version.encode("ascii")),
                       tlv.Tlv(tags["keys_version"], params.keys_version.encode("ascii")),
                       tlv.Tlv(tags["digest"], bytes.fromhex(params.digest[:16]))])
    try:
        yield from _exchange(profile, spec, "status", batch, data)
    except _Stopped as exc:
        yield Notify(f"status upload: {exc}")
        return False
    return True


def sign_on(profile: Profile, request: DownloadRequest | None) -> Gen:
    """Sign on; when the answer announces parameters or keys newer than those in force, download them.
    Returns (sign-on result, the download's Outcome or None, the download's error or None)."""
    signon, answer = yield from sign_on_answer(profile)
    if request is None:
        return signon, None, None
    announced = announced_versions(request.spec, answer)
    if announced is None:
        return signon, None, None
    current = in_force((yield from ask.params_in_force()), request.files)
    if not (newer(announced[0], current.params_version) or newer(announced[1], current.keys_version)):
        return signon, None, None
    try:
        outcome = yield from download(profile, request)
    except EngineError as exc:  # the sign-on stands; the parameters wait for the next try
        return signon, None, str(exc)
    return signon, outcome, None
