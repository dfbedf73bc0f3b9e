"""What a terminal posts to `POST /v1/events`, checked before anything reaches the database.

    {"terminal": "T0001", "head": 1234,
     "events": [{"seq": 1, "at": 1717000000.25, "txn_id": null, "kind": "batch.open",
                 "operator": null, "role": "system", "details": "{\"batch\":1,\"rows\":[...]}",
                 "content_hash": "<64 hex>", "hash": "<64 hex>"}, ...]}

`POST /v1/messages` takes the masked ISO 8583 messages of transactions those events name (`parse_messages`):

    {"terminal": "T0001", "messages": [{"txn_id": 7, "message_id": 0, "direction": "sent", "at": 1717000000.2,
                                        "reversal_id": null, "body": {"mti": "0200", "fields": {...}}}, ...]}

`seq` is the journal's event id; `details` is the event's details *text*, byte for byte what the content
hash covers (re-encoding parsed JSON could change it); `head` is the newest event id the terminal's
journal holds, so the office can say how far behind a terminal is.  Limits are checked before reading.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, TypeGuard

from posoffice.errors import WireError

#: the largest request body read, the most events in one batch, the largest event details text
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_BATCH_EVENTS = 500
MAX_DETAILS_CHARS = 256 * 1024
MAX_SEQ = 2**62
#: the most messages one request holds, the largest message (its JSON), as the journal stores them
MAX_BATCH_MESSAGES = 200
MAX_MESSAGE_CHARS = 64 * 1024
_MESSAGE_FIELDS = ("txn_id", "message_id", "direction", "at", "reversal_id", "body")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_KIND = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_FIELDS = ("seq", "at", "txn_id", "kind", "operator", "role", "details", "content_hash", "hash")


@dataclass(frozen=True)
class WireEvent:
    seq: int
    at: float
    txn_id: int | None
    kind: str
    operator: str | None
    role: str | None
    details: str
    content_hash: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS}


@dataclass(frozen=True)
class Batch:
    terminal: str
    head: int | None
    events: tuple[WireEvent, ...]


def is_identifier(text: object) -> TypeGuard[str]:
    """A terminal or merchant id: 1-32 letters, digits, '.', '_' or '-', starting with a letter or digit."""
    return isinstance(text, str) and bool(_ID.fullmatch(text))


def parse_batch(body: bytes) -> Batch:
    doc = _object(body, ("terminal", "head", "events"))
    terminal = _terminal(doc)
    head = doc.get("head")
    if head is not None and not _is_seq(head, allow_zero=True):
        raise WireError("\"head\" must be the journal's newest event id (a whole number >= 0) or null")
    events = _items(doc, "events", MAX_BATCH_EVENTS, "a batch")
    return Batch(terminal, head, tuple(parse_event(e, i) for i, e in enumerate(events)))


def _terminal(doc: dict[str, Any]) -> str:
    terminal = doc.get("terminal")
    if not is_identifier(terminal):
        raise WireError("\"terminal\" must be the terminal's id (1-32 letters, digits, '.', '_', '-')")
    return terminal


def _items(doc: dict[str, Any], key: str, most: int, holder: str) -> list[Any]:
    """The body's non-empty list `key`, at most `most` long (413 beyond it)."""
    items = doc.get(key)
    if not isinstance(items, list) or not items:
        raise WireError(f"\"{key}\" must be a non-empty list")
    if len(items) > most:
        raise WireError(f"{holder} holds at most {most} {key}, not {len(items)}", status=413,
                        code=f"too_many_{key}")
    return items


@dataclass(frozen=True)
class WireMessage:
    txn_id: int
    message_id: int  # 0: the transaction's own request or answer; else the journal's `messages` row
    direction: str   # "sent" or "received"
    at: float
    reversal_id: int | None
    body: dict[str, Any]


@dataclass(frozen=True)
class MessageBatch:
    terminal: str
    messages: tuple[WireMessage, ...]


def parse_messages(body: bytes) -> MessageBatch:
    """A terminal's masked messages, checked field by field (the body's card data is scrubbed by the caller)."""
    doc = _object(body, ("terminal", "messages"))
    terminal = _terminal(doc)
    messages = _items(doc, "messages", MAX_BATCH_MESSAGES, "a request")
    return MessageBatch(terminal, tuple(_message(m, i) for i, m in enumerate(messages)))


def _message(raw: Any, index: int) -> WireMessage:
    where = f"messages[{index}]"
    if not isinstance(raw, dict) or set(raw) != set(_MESSAGE_FIELDS):
        raise WireError(f"{where} must be an object with {', '.join(_MESSAGE_FIELDS)}")
    if not _is_seq(raw["txn_id"]):
        raise WireError(f"{where}: txn_id must be a whole number from 1")
    if not _is_seq(raw["message_id"], allow_zero=True):
        raise WireError(f"{where}: message_id must be a whole number from 0")
    if raw["direction"] not in ("sent", "received"):
        raise WireError(f"{where}: direction must be \"sent\" or \"received\"")
    at = raw["at"]
    if isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at):
        raise WireError(f"{where}: at must be a number (seconds since 1970)")
    if raw["reversal_id"] is not None and not _is_seq(raw["reversal_id"]):
        raise WireError(f"{where}: reversal_id must be a whole number from 1 or null")
    body = raw["body"]
    text = json.dumps(body) if isinstance(body, dict) else ""
    if not text or len(text) > MAX_MESSAGE_CHARS or "\\u0000" in text:
        raise WireError(f"{where}: body must be the message as a JSON object of at most {MAX_MESSAGE_CHARS} "
                        "characters, without NUL")
    return WireMessage(raw["txn_id"], raw["message_id"], raw["direction"], float(at), raw["reversal_id"], body)


def _object(body: bytes, names: tuple[str, ...]) -> dict[str, Any]:
    if len(body) > MAX_BODY_BYTES:
        raise WireError(f"the request body is over {MAX_BODY_BYTES} bytes", status=413, code="too_large")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"the body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise WireError(f"the body must be a JSON object with {', '.join(names)}")
    unknown = set(doc) - set(names)
    if unknown:
        raise WireError(f"unknown field(s) in the body: {', '.join(sorted(unknown))}")
    return doc


def parse_event(raw: Any, index: int) -> WireEvent:
    where = f"events[{index}]"
    if not isinstance(raw, dict):
        raise WireError(f"{where} must be an object")
    if set(raw) != set(_FIELDS):
        missing, extra = set(_FIELDS) - set(raw), set(raw) - set(_FIELDS)
        wrong = [f"missing {', '.join(sorted(missing))}"] if missing else []
        if extra:
            wrong.append(f"unknown {', '.join(sorted(extra))}")
        raise WireError(f"{where}: " + "; ".join(wrong))
    where = f"{where} (seq {raw['seq']!r})"
    if not _is_seq(raw["seq"]):
        raise WireError(f"{where}: seq must be a whole number from 1")
    at = raw["at"]
    if isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at):
        raise WireError(f"{where}: at must be a number (seconds since 1970)")
    if raw["txn_id"] is not None and not _is_seq(raw["txn_id"]):
        raise WireError(f"{where}: txn_id must be a whole number from 1 or null")
    if not isinstance(raw["kind"], str) or not _KIND.fullmatch(raw["kind"]):
        raise WireError(f"{where}: kind must be lowercase letters, digits, '.', '_' or '-'")
    for name in ("operator", "role"):
        value = raw[name]
        if value is not None and (not isinstance(value, str) or len(value) > 64):
            raise WireError(f"{where}: {name} must be a string of at most 64 characters or null")
    details = raw["details"]
    if not isinstance(details, str) or len(details) > MAX_DETAILS_CHARS:
        raise WireError(f"{where}: details must be the event's details text, at most {MAX_DETAILS_CHARS} characters")
    if "\x00" in details or "\\u0000" in details:
        raise WireError(f"{where}: details hold a NUL character, which the office cannot store")
    try:
        if not isinstance(json.loads(details), dict):
            raise ValueError("not an object")
    except ValueError:
        raise WireError(f"{where}: details must be a JSON object's text") from None
    for name in ("content_hash", "hash"):
        if not isinstance(raw[name], str) or not _HEX64.fullmatch(raw[name]):
            raise WireError(f"{where}: {name} must be 64 lowercase hex digits")
    return WireEvent(raw["seq"], at, raw["txn_id"], raw["kind"], raw["operator"], raw["role"], details,
                     raw["content_hash"], raw["hash"])


def _is_seq(value: Any, *, allow_zero: bool = False) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)
            and (0 if allow_zero else 1) <= value <= MAX_SEQ)
