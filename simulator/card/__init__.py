"""The virtual EMV card: a vpcd client (`VirtualCard`) around a sans-IO applet (`EmvApplet`)."""

from simulator.card.applet import STEPS, CardOptions, EmvApplet, Misbehaviour
from simulator.card.vpcd import VirtualCard, VirtualCardError, port_for_reader

__all__ = ["STEPS", "CardOptions", "EmvApplet", "Misbehaviour", "VirtualCard", "VirtualCardError", "port_for_reader"]
