"""The last line of defence for stored messages: no track data, PIN block, key or full PAN is written,
and nothing else in a message is changed.

Messages reach the journal already masked (`agent.iso8583.dump.message_to_json(message, masked=True)`).  `scrub_message` applies
the rules again *by structure*, so a mistake upstream cannot put card data on disk while the evidence a
dispute desk asks for — field 55's cryptogram and every tag it covers, amounts, ids — stays byte-exact:

- a message (a dict with an "mti" or a "fields" object; a flat one keeps its fields at the top level):
  fields 35, 36, 45 and 52 are removed; the PAN-bearing fields (2, 34 and 57, the cup dialect's wallet
  payment code) are masked first 6 / last 4; field 55 is read as TLV; the free-text fields (44, 59, 63)
  get the free-text safety net below; every other field is kept exactly;
- field 55 (as `to_json` lists it, as a tag → value object, or as hex / bytes): tags 56, 57, 9F1F, 9F20
  and 9F6B are removed, 5A is masked, every other tag is kept exactly (a template holding one of those
  tags is opened and scrubbed tag by tag);
- anything else (event details, notes, errors — free text): forbidden names are removed and every run
  of 13–24 digits is masked as a PAN.

It returns a new JSON-able value; the input is not changed.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agent.journal.errors import JournalError
from agent.journal.hashchain import canonical
from agent.masking import mask_card_number, mask_digit_runs

if TYPE_CHECKING:  # the codec is loaded only for raw TLV (see `_decode`)
    from agent.iso8583.tlv import Tlv

REMOVED = "[removed]"
#: names never stored, wherever they appear
FORBIDDEN_NAMES = frozenset({
    "f35", "f36", "f45", "f52", "track1", "track2", "track3", "track_2", "track_3", "pin_block", "pinblock",
    "cvv", "cvv2", "key", "keys", "mac_key", "pin_key", "tmk", "working_keys",
})
#: ISO 8583 fields never stored: track 2, track 3, track 1, PIN block
TRACK_FIELDS = frozenset({"35", "36", "45", "52"})
#: ISO 8583 fields holding a card number or a payment code: PAN, extended PAN (iso87), wallet payment
#: code (cup 57, `[wallet] code_field`, which must be a field its dialect masks like a PAN)
PAN_FIELDS = frozenset({"2", "34", "57"})
#: ISO 8583 fields of free text (host or terminal wording), where a typed card number may hide
FREE_TEXT_FIELDS = frozenset({"44", "59", "63"})
#: the ISO 8583 field of chip data (BER-TLV)
ICC_FIELD = "55"
#: chip tags never stored: 56 track 1, 57 track 2 equivalent, 9F6B contactless track 2, 9F1F/9F20
#: discretionary data
TRACK_TAGS = frozenset({"56", "57", "9F6B", "9F1F", "9F20"})
#: chip tags holding the PAN
PAN_TAGS = frozenset({"5A"})
#: outside a message every name a message or field 55 would refuse is refused too
FORBIDDEN_KEYS = FORBIDDEN_NAMES | TRACK_FIELDS | {tag.lower() for tag in TRACK_TAGS}
#: the largest message body stored (bytes of JSON); a bigger one is a bug upstream
MAX_MESSAGE_CHARS = 64 * 1024
MAX_DEPTH = 8
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")


def scrub_message(message: Any, _depth: int = 0) -> Any:
    """`message` as the journal may store it (a message by its structure, anything else as free text).  The
    journal port takes a message as any `Mapping`: one that is not a dict is read as the dict it holds."""
    if isinstance(message, Mapping) and not isinstance(message, dict):
        message = dict(message)
    if _is_message(message):
        return _message(message, _depth)
    return _free(message, _depth)


def scrub_text(text: object, limit: int = 500) -> str:
    """Free text (an error, an operator's note) as it may be stored: PAN-like digits masked, length capped."""
    return mask_digit_runs(str(text))[:limit]


def message_text(message: Any, txn_id: int | None) -> str:
    """A message as the journal stores it: scrubbed canonical JSON, refused when too large."""
    body = canonical(scrub_message(message))
    if len(body) > MAX_MESSAGE_CHARS:
        raise JournalError(f"message of {len(body)} characters is larger than {MAX_MESSAGE_CHARS}; not stored",
                           txn_id=txn_id)
    return body


# ----------------------------------------------------------------- messages and their fields
def _is_message(value: Any) -> bool:
    return isinstance(value, dict) and ("mti" in value or isinstance(value.get("fields"), dict))


def _is_field_number(name: str) -> bool:
    return 0 < len(name) <= 3 and name.isascii() and name.isdigit()


def _message(message: dict[str, Any], depth: int) -> dict[str, Any]:
    _check_depth(depth)
    out: dict[str, Any] = {}
    for key, value in message.items():
        name = str(key)
        if name == "mti" and type(value) is str:
            out[name] = value
        elif name == "fields" and isinstance(value, dict):
            _check_depth(depth + 1)
            out[name] = {str(k): _field(str(k), v, depth + 2) for k, v in value.items()}
        elif name == "subfields" and isinstance(value, dict):
            _check_depth(depth + 1)
            out[name] = {str(k): _subfield(str(k), v, depth + 2) for k, v in value.items()}
        elif _is_field_number(name):  # a flat message: its fields at the top level
            out[name] = _field(name, value, depth + 1)
        elif name.lower() in FORBIDDEN_KEYS:
            out[name] = REMOVED
        else:
            out[name] = _free(value, depth + 1)
    return out


_KEEP, _REMOVE, _TLV, _PAN, _FREE = "keep", "remove", "tlv", "pan", "free"


@functools.lru_cache(maxsize=1024)
def _field_rule(number: str) -> str:
    """Which rule a field's name calls for (read once per name: a message has the same few dozen)."""
    if not _is_field_number(number):  # not a field number: a name of no known structure
        return _REMOVE if number.lower() in FORBIDDEN_KEYS else _FREE
    number = number.lstrip("0")  # "002" is field 2
    if number in TRACK_FIELDS:
        return _REMOVE
    if number == ICC_FIELD:
        return _TLV
    if number in PAN_FIELDS:
        return _PAN
    if number in FREE_TEXT_FIELDS:
        return _FREE
    return _KEEP


def _field(number: str, value: Any, depth: int) -> Any:
    """One ISO 8583 field: removed, masked as a card number, read as TLV, free text, or kept exactly."""
    rule = _field_rule(number)
    if rule is _KEEP:
        return value if type(value) is str and depth <= MAX_DEPTH else _exact(value, depth)
    if rule is _REMOVE:
        return REMOVED
    if rule is _TLV:
        return _tlv(value, depth)
    if rule is _PAN:
        return mask_card_number(value) if type(value) is str else _free(value, depth)
    return _free(value, depth)


def _subfield(number: str, value: Any, depth: int) -> Any:
    """The typed view `to_json` adds beside a field (55's tags, 60's parts, 62's check values...)."""
    if not _is_field_number(number):
        return REMOVED if number.lower() in FORBIDDEN_KEYS else _free(value, depth)
    number = number.lstrip("0")
    if number in TRACK_FIELDS:
        return REMOVED
    if number == ICC_FIELD:
        return _tlv(value, depth)
    if number in PAN_FIELDS or number in FREE_TEXT_FIELDS:
        return _free(value, depth)
    return _exact(value, depth)


def _exact(value: Any, depth: int) -> Any:
    """A structured value kept as it is (bytes as hex), but never under a forbidden name."""
    _check_depth(depth)
    if type(value) is str:
        return value
    if isinstance(value, dict):
        if _is_message(value):
            return _message(value, depth)
        return {str(k): REMOVED if str(k).lower() in FORBIDDEN_NAMES else _exact(v, depth + 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_exact(v, depth + 1) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex().upper()
    return _scalar(value, free=False)


# ----------------------------------------------------------------- field 55
def _tlv(value: Any, depth: int) -> Any:
    """Field 55 in any of its shapes, each tag by its own rule."""
    _check_depth(depth)
    if isinstance(value, dict):  # {"9F26": "…", "5A": "…"}
        return {str(tag): _tag_value(str(tag).upper(), v, depth + 1) for tag, v in value.items()}
    if isinstance(value, (list, tuple)):  # [{"tag": "9F26", "value": "…", "name": "…"}] as `to_json` lists it
        return [_tlv_item(item, depth + 1) for item in value]
    if isinstance(value, (bytes, bytearray)):
        return _tlv_bytes(bytes(value), depth, as_text=bytes(value).hex().upper())
    if type(value) is str and _HEX.fullmatch(value):
        return _tlv_bytes(bytes.fromhex(value), depth, as_text=value)
    return _free(value, depth)  # not TLV (the masked view's "[n bytes of TLV, tags below]"): free text


def _tlv_item(item: Any, depth: int) -> Any:
    if not (isinstance(item, dict) and type(item.get("tag")) is str):
        return _free(item, depth)
    tag = item["tag"].upper()
    out = {}
    for key, value in item.items():
        name = str(key)
        if name == "tag":
            out[name] = value
        elif name == "value":
            out[name] = _tag_value(tag, value, depth + 1)
        else:  # "name": the tag's label
            out[name] = REMOVED if name.lower() in FORBIDDEN_KEYS else _free(value, depth + 1)
    return out


def _tag_value(tag: str, value: Any, depth: int) -> Any:
    if tag in TRACK_TAGS:
        return REMOVED
    if tag in PAN_TAGS:
        return mask_card_number(value) if type(value) is str else _free(value, depth)
    if isinstance(value, (dict, list, tuple)):  # a template given as its tags
        return _tlv(value, depth)
    if type(value) is str and _constructed(tag) and _HEX.fullmatch(value):
        return _tlv_bytes(bytes.fromhex(value), depth, as_text=value)
    return _exact(value, depth)


def _tlv_bytes(data: bytes, depth: int, *, as_text: str) -> Any:
    """Raw TLV: kept exactly (`as_text`) unless it holds a card tag, then listed tag by tag, scrubbed."""
    items = _decode(data) if depth < MAX_DEPTH else None
    if items is None:
        return mask_digit_runs(as_text)  # not TLV after all: the free-text safety net
    if not _holds_card_data(items, depth):
        return as_text
    return [_tlv_item({"tag": item.tag_hex, "value": item.value.hex().upper()}, depth + 1) for item in items]


def _holds_card_data(items: list[Tlv], depth: int) -> bool:
    if depth >= MAX_DEPTH:
        return True  # templates nested this deep are not opened further: treated as holding card data
    for item in items:
        if item.tag_hex in TRACK_TAGS or item.tag_hex in PAN_TAGS:
            return True
        if item.constructed:
            inner = _decode(item.value)
            if inner is not None and _holds_card_data(inner, depth + 1):
                return True
    return False


def _decode(data: bytes) -> list[Tlv] | None:
    # the codec is loaded only for raw TLV (masked messages list their tags): opening the journal stays light
    from agent.iso8583 import tlv
    from agent.iso8583.errors import CodecError

    try:
        return tlv.decode(data, field=ICC_FIELD)
    except CodecError:
        return None


def _constructed(tag: str) -> bool:
    return bool(int(tag[:2], 16) & 0x20) if _HEX.fullmatch(tag) else False


# ----------------------------------------------------------------- free values
def _free(value: Any, depth: int) -> Any:
    """Free text and values of no known structure: forbidden names removed, PAN-like digit runs masked."""
    _check_depth(depth)
    if type(value) is str:
        return mask_digit_runs(value)
    if isinstance(value, dict):
        if _is_message(value):
            return _message(value, depth)
        return {str(k): REMOVED if str(k).lower() in FORBIDDEN_KEYS else _free(v, depth + 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_free(v, depth + 1) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return mask_digit_runs(bytes(value).hex().upper())
    return _scalar(value, free=True)


def _scalar(value: Any, *, free: bool) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return mask_digit_runs(str(value)) if free and abs(value) >= 10 ** 12 else value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise JournalError(f"message value of type {type(value).__name__} cannot be journaled")


def _check_depth(depth: int) -> None:
    if depth > MAX_DEPTH:
        raise JournalError(f"message nested deeper than {MAX_DEPTH} levels; not stored")
