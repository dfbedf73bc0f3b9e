"""Does this answer belong to this request?  One rule for every exchange (domain notes §4): the answer's
MTI is the request's + 10, and the fields the request carries that the answer must echo are equal.

Financial requests (sale, void, refund, their reversals) echo 3, 11, 41, 42 and 4; network management
(sign-on, echo) and settlement (0500, batch upload 0320) echo 11, 41 and 42.
"""

from __future__ import annotations

from agent.iso8583.message import Message

FINANCIAL_ECHO = (3, 11, 41, 42, 4)
NETWORK_ECHO = (11, 41, 42)


def answer_mismatch(request: Message, response: Message, echoed: tuple[int, ...]) -> tuple[int, str] | None:
    """None when `response` answers `request`; else (the field that differs, 0 for the MTI; what differs)."""
    if response.mti != request.response_mti:
        return 0, f"answer MTI {response.mti}, expected {request.response_mti}"
    for number in echoed:
        if number in request and response.get(number) != request[number]:
            return number, f"answer field {number} is {response.get(number)!r}, expected {request[number]!r}"
    return None
