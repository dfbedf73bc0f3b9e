"""Human and JSON views of a `Message`: annotated field names, card data masked (domain notes §6).

Masked views show a PAN as first 6 / last 4, and never show track data, PIN blocks, keys, expiry
or EMV tags carrying track or PAN data.  The unmasked JSON form is the inverse of `message_from_json`.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict, final

from agent.iso8583 import tlv
from agent.iso8583.dialect import Dialect, FieldSpec
from agent.iso8583.errors import CodecError
from agent.iso8583.message import FieldValue, Message
from agent.masking import mask_digit_runs, mask_pan
from agent.iso8583.subfields import (EMV_TAGS, Field48Request, Field60, Field61, Field62Keys, Field63,
                                     SETTLEMENT_RESULTS)


HIDDEN = "[hidden]"


@final
class TagView(TypedDict):
    """One EMV tag of field 55 in a view: hex tag, (masked) hex value, its name when known."""

    tag: str
    value: str
    name: NotRequired[str]


@final
class KeyView(TypedDict):
    """One working key of a sign-on answer's field 62 in a view."""

    key: str
    check_value: str


#: the typed view of a structured field: 55's tags, 62's keys, or the parts of 48, 60, 61, 63 by name
SubfieldView = list[TagView] | list[KeyView] | dict[str, object]


class MessageJson(TypedDict):
    """A message as JSON: wire values as text (b fields as hex), typed views of structured fields."""

    mti: str
    fields: dict[str, str]
    subfields: NotRequired[dict[str, SubfieldView]]


def mask_field_text(spec: FieldSpec | None, value: FieldValue, text: str) -> str:
    """`text` as a masked view may show it: PANs 6/4, hidden fields as a marker, free text scrubbed."""
    mask = spec.mask if spec else "hide"
    if mask == "pan":
        return mask_pan(text)
    if mask == "hide" or spec is None:
        return f"{HIDDEN} ({len(value)} {'bytes' if isinstance(value, bytes) else 'chars'})"
    if mask == "tlv":
        return f"[{len(value)} bytes of TLV, tags below]"  # tags such as 57 and 5A are masked one by one
    if spec.type.kind == "ans" and spec.type.variable:
        return mask_digit_runs(text)  # a PAN typed into free text is still a PAN
    return text


def _dialect(dialect: Dialect | str | None) -> Dialect:
    from agent.iso8583.dialects import get_dialect
    if dialect is None:
        return get_dialect("cup")
    return get_dialect(dialect) if isinstance(dialect, str) else dialect


def _wire_text(value: FieldValue) -> str:
    return value.hex().upper() if isinstance(value, bytes) else value


def _shown(spec: FieldSpec | None, number: int, value: FieldValue, masked: bool) -> str:
    text = _wire_text(value)
    if not masked:
        return text
    return mask_field_text(spec, value, text)


def _tlv_items(value: bytes, masked: bool) -> list[TagView]:
    items: list[TagView] = []
    for item in tlv.decode(value, field="55"):
        name, kind = EMV_TAGS.get(item.tag, ("", "b"))
        shown = item.value.hex().upper()
        if masked and kind == "secret":
            shown = HIDDEN
        elif masked and kind == "pan":
            shown = mask_pan(shown.rstrip("F"))
        entry: TagView = {"tag": item.tag_hex, "value": shown}
        if name:
            entry["name"] = name
        items.append(entry)
    return items


def _structured(dialect: Dialect, msg: Message, number: int, kind: str, masked: bool) -> SubfieldView | None:
    """The typed view of a structured field as plain data, or None when it does not parse."""
    value = msg[number]
    try:
        if kind == "tlv" and isinstance(value, bytes):
            return _tlv_items(value, masked)
        if kind == "60":
            f60 = Field60.parse(value)
            return {"tx_type": f60.tx_type, "batch": f60.batch, "nmc": f60.nmc, "read_cap": f60.read_cap,
                    "ic_cond": f60.ic_cond}
        if kind == "61":
            f61 = Field61.parse(value)
            return {"orig_batch": f61.orig_batch, "orig_trace": f61.orig_trace, "orig_date": f61.orig_date}
        if kind == "48" and msg.mti[:2] == "05" and len(value) == 62:
            if msg.is_response:
                if not isinstance(value, str):  # a binary field 48 names no result
                    return {"domestic": None, "foreign": None}
                return {"domestic": SETTLEMENT_RESULTS.get(value[30]), "foreign": SETTLEMENT_RESULTS.get(value[61])}
            f48 = Field48Request.parse(value)
            return {"domestic": vars(f48.domestic), "foreign": vars(f48.foreign)}
        if kind == "62" and msg.mti[:2] == "08" and 60 in msg:
            mode = Field60.parse(msg[60]).nmc
            pairs = Field62Keys.parse(value, mode, dialect.key_layouts or None)
            keys: list[KeyView] = [{"key": HIDDEN if masked else k.hex().upper(), "check_value": c.hex().upper()}
                                   for k, c in pairs]
            return keys
        if kind == "63" and msg.is_response:
            f63 = Field63.parse(value)
            return {"card_org": f63.card_org, "text": f63.text}
    except CodecError:
        return None
    return None


def message_to_json(msg: Message, *, masked: bool = True, dialect: Dialect | str | None = None) -> MessageJson:
    """``{"mti": "0200", "fields": {"2": "...", ...}, "subfields": {...}}`` with wire values as text."""
    known = _dialect(dialect)
    fields = {}
    subfields = {}
    for number in msg.numbers():
        spec = known.fields.get(number)
        fields[str(number)] = _shown(spec, number, msg[number], masked)
        kind = known.structured.get(number)
        if kind:
            view = _structured(known, msg, number, kind, masked)
            if view is not None:
                subfields[str(number)] = view
    out: MessageJson = {"mti": msg.mti, "fields": fields}
    if subfields:
        out["subfields"] = subfields
    return out


def message_from_json(data: object, *, dialect: Dialect | str | None = None) -> Message:
    """The inverse of the unmasked `message_to_json`: b fields come from hex, others are text."""
    known = _dialect(dialect)
    if not isinstance(data, dict) or "mti" not in data or not isinstance(data.get("fields", {}), dict):
        raise CodecError('JSON message needs "mti" and a "fields" object')
    values: dict[int, FieldValue] = {}
    given: dict[object, object] = data.get("fields", {})
    for key, value in given.items():
        if not (isinstance(key, str) and key.isascii() and key.isdigit()):
            raise CodecError(f"field key {key!r} is not a field number")
        number = int(key)
        spec = known.fields.get(number)
        if spec is None:
            raise CodecError(f"not defined in dialect {known.name}", field=number)
        if not isinstance(value, str):
            raise CodecError(f"JSON value must be a string, got {type(value).__name__}", field=number)
        if spec.type.kind == "b":
            try:
                values[number] = bytes.fromhex(value)
            except ValueError:
                raise CodecError("binary field needs hex digits", field=number) from None
        else:
            values[number] = value
    return Message(data["mti"], values)


def masked_dump(msg: Message, dialect: Dialect | str | None = None) -> str:
    """One line per field: number, name, format, masked value; EMV tags of field 55 indented below."""
    return annotated_dump(msg, dialect, masked=True)


def annotated_dump(msg: Message, dialect: Dialect | str | None = None, *, masked: bool = True) -> str:
    """`masked_dump`, or with ``masked=False`` the same layout with card data in full (test data only)."""
    known = _dialect(dialect)
    lines = [f"MTI  {msg.mti}   ({known.name})"]
    for number in msg.numbers():
        spec = known.fields.get(number)
        name = spec.name if spec else "(not in dialect)"
        fmt = spec.type.describe() if spec else "?"
        lines.append(f"{number:>3}  {name[:34]:<34} {fmt:<20} {_shown(spec, number, msg[number], masked)}")
        kind = known.structured.get(number)
        if kind:
            view = _structured(known, msg, number, kind, masked)
            if isinstance(view, list):
                for entry in view:
                    if "tag" in entry:
                        lines.append(f"       {entry['tag']:<6} {entry.get('name', ''):<30} {entry['value']}")
                    else:
                        lines.append(f"       key {entry['key']} check value {entry['check_value']}")
            elif isinstance(view, dict):
                lines.append("       " + ", ".join(f"{k}={v}" for k, v in view.items() if v is not None))
    return "\n".join(lines)
