"""Helpers for tests against the acquirer simulator: start `posim host` as a real process, build
terminal messages, sign on through the real link."""

from __future__ import annotations

from pathlib import Path

from agent import config, settings
from agent.iso8583 import Message, get_dialect
from agent.iso8583.subfields import Field60, Field61
from simulator.stack import Host

ROOT = Path(__file__).resolve().parent.parent
CUP = get_dialect("cup")
TPDU = bytes.fromhex("6000030000")
HEADER = bytes.fromhex("613100000000")
DEFAULT_TMK = bytes.fromhex(settings.SCHEMA["keys"]["tmk"].default)


#: the simulator as a child process: `.port`, `.control(...)`, `.fault(spec)`, `.ledger()`, `.stop()`
RunningHost = Host


def start_host(directory: Path, *extra: str) -> Host:
    """`posim host` on ephemeral ports, its ledger in `directory`."""
    return Host.start(directory, *extra)


def terminal_config(tid: str = "10000001", **acquirer) -> config.Config:
    return config.from_mapping({"terminal": {"terminal_id": tid}, "acquirer": acquirer})


def sale(card, amount: int, stan: int, *, tid: str = "10000001", batch: str = "000001",
         expiry: str | None = None) -> Message:
    """A magstripe-style sale (no field 55) for a test card; MAC it before sending."""
    return Message("0200", {
        2: card.pan, 3: "000000", 4: f"{amount:012d}", 11: f"{stan:06d}", 14: expiry or card.expiry,
        22: "022", 25: "00", 41: tid, 42: "123456789012345", 49: "156",
        60: Field60(tx_type="22", batch=batch, nmc="000").to_str(), 64: bytes(8)})


def void(card, amount: int, stan: int, original: Message, original_answer: Message, *, tid: str = "10000001",
         batch: str = "000001") -> Message:
    return Message("0200", {
        2: card.pan, 3: "200000", 4: f"{amount:012d}", 11: f"{stan:06d}", 25: "00", 37: original_answer[37],
        38: original_answer.get(38) or "000000", 41: tid, 42: "123456789012345", 49: "156",
        60: Field60(tx_type="23", batch=batch, nmc="000").to_str(),
        61: Field61(batch, original[11], "0000").to_str(), 64: bytes(8)})


def refund(card, amount: int, stan: int, original_answer: Message, *, tid: str = "10000001",
           batch: str = "000001") -> Message:
    return Message("0220", {
        2: card.pan, 3: "200000", 4: f"{amount:012d}", 11: f"{stan:06d}", 25: "00", 37: original_answer[37],
        41: tid, 42: "123456789012345", 49: "156",
        60: Field60(tx_type="25", batch=batch, nmc="000").to_str(),
        61: Field61("000000", "000000", original_answer[13]).to_str(),
        64: bytes(8)})


def reversal(original: Message, reason: str = "98") -> Message:
    return Message("0400", {n: v for n, v in original.fields.items() if n not in (35, 36, 52, 53)}).replace(
        {39: reason})
