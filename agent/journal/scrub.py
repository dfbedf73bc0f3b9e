"""The last line of defence for stored messages: no track data, PIN block, key or full PAN is written.

Messages reach the journal already masked.  `scrub_message` still drops the fields that may never be
persisted (domain notes §6: 35, 36, 52, chip tag 57, keys) and masks any PAN-like run of digits outside
the structured numeric fields (`KEPT_AS_IS`), so a mistake upstream cannot put card data on disk.  It returns a new JSON-able value; the input is not changed.
"""

from __future__ import annotations

import math
from typing import Any

from agent.journal.errors import JournalError
from agent.journal.hashchain import canonical
from agent.masking import mask_digit_runs

#: message fields never stored, under any of the names a message dict may use
FORBIDDEN_KEYS = frozenset({
    "35", "36", "45", "52", "f35", "f36", "f45", "f52", "track1", "track2", "track3", "track_2", "track_3",
    "pin_block", "pinblock", "cvv", "cvv2", "key", "keys", "mac_key", "pin_key", "tmk", "working_keys",
    # chip tags holding track data: 57 track 2 equivalent, 56 track 1, 9F6B contactless track 2, 9F1F/9F20 discretionary
    "57", "56", "9f6b", "9f1f", "9f20",
})
#: ISO 8583 fields whose values are structured numbers that never hold a PAN (amounts, codes, ids,
#: batch/trace subfields, settlement totals): kept as they are, so the evidence reads true — a 15-digit
#: merchant id or the 13 digits of field 60 are not card numbers
KEPT_AS_IS = frozenset({"3", "4", "7", "11", "12", "13", "15", "22", "23", "25", "32", "37", "38", "39", "41",
                        "42", "48", "49", "60", "61", "63"})
#: the largest message body stored (bytes of JSON); a bigger one is a bug upstream
MAX_MESSAGE_CHARS = 64 * 1024
MAX_DEPTH = 8


def scrub_message(message: Any, _depth: int = 0) -> Any:
    if _depth > MAX_DEPTH:
        raise JournalError(f"message nested deeper than {MAX_DEPTH} levels; not stored")
    if isinstance(message, dict):
        out = {}
        for key, value in message.items():
            name = str(key)
            if name.lower() in FORBIDDEN_KEYS:
                out[name] = "[removed]"
                continue
            if type(value) is str and _depth < MAX_DEPTH:  # most values: masked here, no call per leaf
                out[name] = value if name in KEPT_AS_IS else mask_digit_runs(value)
                continue
            if name in KEPT_AS_IS and isinstance(value, str):
                out[name] = value
                continue
            out[name] = scrub_message(value, _depth + 1)
        return out
    if isinstance(message, (list, tuple)):
        return [scrub_message(v, _depth + 1) for v in message]
    if isinstance(message, str):
        return mask_digit_runs(message)
    if isinstance(message, (bytes, bytearray)):
        return mask_digit_runs(bytes(message).hex().upper())
    if isinstance(message, bool) or message is None:
        return message
    if isinstance(message, int):
        return mask_digit_runs(str(message)) if abs(message) >= 10 ** 12 else message
    if isinstance(message, float) and math.isfinite(message):
        return message
    raise JournalError(f"message value of type {type(message).__name__} cannot be journaled")


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
