"""The virtual card's applet wired straight to the driver's flow (no pcscd): for the fast card tests."""

from __future__ import annotations

import datetime as dt

from agent.emv import apdu
from agent.emv.apdu import Response
from agent.emv.card_errors import CardMute, CardRemoved
from agent.emv.data import TerminalData
from agent.emv.oda import load_ca_keys
from simulator.card.applet import EmvApplet
from simulator.emvpki import CA_KEYS_FILE


class LoopbackSession:
    """A `Session` whose card is an in-process applet; records every raw command it carried."""

    def __init__(self, applet: EmvApplet):
        self.applet = applet
        self.commands: list[bytes] = []
        self.closed = False

    def transmit(self, command: bytes) -> bytes:
        if self.closed:
            raise CardRemoved("session closed")
        self.commands.append(command)
        reply = self.applet.process(command)
        if reply.action == "remove":
            raise CardRemoved("card left")
        if reply.action == "mute":
            raise CardMute("card went mute")
        return reply.data

    def exchange(self, command: bytes) -> Response:
        return apdu.exchange(self.transmit, command)

    def close(self) -> None:
        self.closed = True


SIMULATOR_CA_KEYS = load_ca_keys(CA_KEYS_FILE)


def terminal(amount: int = 10000, **overrides) -> TerminalData:
    values = dict(amount=amount, currency="156", country="156", date=dt.date(2026, 11, 23), tx_type=0x00,
                  unpredictable_number=bytes.fromhex("A1B2C3D4"), tvr=bytes(5), sequence_counter=123,
                  ca_keys=SIMULATOR_CA_KEYS)
    values.update(overrides)
    return TerminalData(**values)
