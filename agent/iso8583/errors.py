"""The codec's one exception type: every decode or encode error names its field, offset and expectation."""

from __future__ import annotations

from agent.errors import PosagentError

#: how errors name a field: its number (0 the MTI, 1 the bitmap) or a subfield such as ``"55.9F26"``
FieldId = int | str


class CodecError(PosagentError):
    """Bad bytes or bad values for an ISO 8583 message.

    `field` is the field number (0 for MTI, 1 for the bitmap, None for framing or whole-message
    problems), or a string such as ``"55.9F26"`` for a subfield; `offset` is the byte offset in the
    input where the problem starts (None on encode); `expected` says what was expected.
    """

    exit_status = 2

    def __init__(self, expected: str, *, field: FieldId | None = None, offset: int | None = None) -> None:
        self.field = field
        self.offset = offset
        self.expected = expected
        parts = []
        if field is not None:
            parts.append("MTI" if field == 0 else "bitmap" if field == 1 else f"field {field}")
        text = expected if not parts else f"{parts[0]}: {expected}"
        if offset is not None:
            text += f" at offset {offset}"
        super().__init__(text)
