"""The card reader through the real stack: pyscard → pcscd → vpcd → the virtual EMV card (TCP).

Every test uses reader slot 0 ("Virtual PCD 00 00", TCP 35963) one card at a time and leaves it
empty; pcscd is shared through the session fixture.  Waits are for events, never fixed sleeps.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agent.emv.card_errors import (CardBlocked, CardCancelled, CardMute, CardRemoved,
                                       CardRemovedAfterApproval, CardTimeout, NoSupportedApplication,
                                       ReaderNotFound, UnexpectedStatusWord)
from agent.drivers.pcsc import CardReader
from agent.iso8583 import tlv
from simulator.card import CardOptions, Misbehaviour, VirtualCard
from simulator import emvcrypto
from simulator.testcards import CDOL1, load_cards
from tests import harness
from tests.card_loopback import terminal

pytestmark = pytest.mark.realstack

READER = "Virtual PCD 00 00"
PORT = 35963
CARDS = load_cards()
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def slot(pcscd):
    """(reader, insert): `insert(card, **options)` puts a virtual card in slot 0; all are removed after."""
    reader = CardReader(READER, card_timeout=10, apdu_timeout=1.0)
    assert reader.readers() == [READER]
    assert reader.wait_for_removal(10), "slot 0 still holds a card from elsewhere"
    inserted: list[VirtualCard] = []

    def insert(card="debit", *, t0=False, options=None, misbehaviour=Misbehaviour(), apps=None):
        virtual = VirtualCard(apps or CARDS[card], PORT, t0=t0, options=options, misbehaviour=misbehaviour)
        inserted.append(virtual.start())
        return virtual

    yield reader, insert
    for virtual in inserted:
        virtual.remove()
    assert reader.wait_for_removal(10)


def host_answer(chip, card, arc=b"00"):
    """What the acquirer simulator checks and returns: the ARQC over CDOL1 from field 55, then 91."""
    values = {t.tag: t.value for t in tlv.decode(chip.field55)}
    assert emvcrypto.application_cryptogram(card.keys, card.pan, card.sequence, CDOL1, values) == values[0x9F26]
    return tlv.encode([tlv.Tlv(0x91, emvcrypto.issuer_authentication_data(
        card.keys, card.pan, card.sequence, values[0x9F36], values[0x9F26], arc))])


@pytest.mark.parametrize("t0", [False, True], ids=["T=1", "T=0"])
def test_a_sale_reads_the_chip_through_pcscd_and_completes_with_tc(slot, t0):
    reader, insert = slot
    card = CARDS["credit"]
    virtual = insert("credit", t0=t0)
    with reader.read_chip(terminal(amount=12345), enter_pin=lambda: True) as chip:  # the PIN pad: PIN entered
        assert reader.last_session.protocol == ("T=0" if t0 else "T=1")
        assert (chip.pan, chip.expiry, chip.sequence, chip.entry_mode) == (card.pan, card.expiry, "001", "051")
        assert chip.track2 == card.track2
        assert chip.complete(True, host_answer(chip, card)) == "TC"
    if t0:
        assert virtual.applet.options.t0
    assert virtual.steps_seen[:1] == ["ppse"] and virtual.steps_seen[-1] == "genac2"
    assert not reader.last_session.worker_alive


@pytest.mark.parametrize("step", ["select", "gpo", "read", "genac1"])
def test_card_removed_mid_read_tells_the_cashier_to_insert_it_again(slot, step):
    reader, insert = slot
    virtual = insert(misbehaviour=Misbehaviour(remove_at=step))
    with pytest.raises(CardRemoved) as info:
        reader.read_chip(terminal())
    assert str(info.value) == "Card removed — insert the card again"
    assert virtual.wait_until_removed(5)
    assert reader.wait_for_removal(10)


def test_card_removed_after_host_approval_asks_for_a_reversal(slot):
    reader, insert = slot
    insert(misbehaviour=Misbehaviour(remove_at="genac2"))
    chip = reader.read_chip(terminal())
    with pytest.raises(CardRemovedAfterApproval):
        chip.complete(True, host_answer(chip, CARDS["debit"]))
    chip.close()


def test_mute_card_is_reported_and_its_stuck_session_ends_when_the_card_is_pulled(slot):
    reader, insert = slot
    virtual = insert(misbehaviour=Misbehaviour(mute_at="read"))
    with pytest.raises(CardMute) as info:
        reader.read_chip(terminal())
    assert info.value.fallback and info.value.step == "read"
    session = reader.last_session
    virtual.remove()
    session._thread.join(10)
    assert not session.worker_alive


@pytest.mark.parametrize("step,sw,error", [
    ("select", 0x6A81, CardBlocked), ("select", 0x6283, CardBlocked), ("ppse", 0x6A81, CardBlocked),
    ("gpo", 0x6D00, UnexpectedStatusWord), ("genac1", 0x6985, UnexpectedStatusWord),
])
def test_status_words_through_pcscd(slot, step, sw, error):
    reader, insert = slot
    insert(t0=True, misbehaviour=Misbehaviour(sw_at={step: sw}))
    with pytest.raises(error) as info:
        reader.read_chip(terminal())
    assert info.value.sw == sw
    if error is CardBlocked:
        assert str(info.value) == "Card blocked — use another card"
    else:
        assert f"{sw:04X}" in str(info.value)


def test_no_supported_application(slot):
    reader, insert = slot
    foreign = CARDS["debit"].__class__(**{**CARDS["debit"].__dict__, "aid": "A0000000041010"})
    insert(apps=[foreign])
    with pytest.raises(NoSupportedApplication):
        reader.read_chip(terminal())


def test_pse_fallback_and_cashier_choice_through_pcscd(slot):
    reader, insert = slot
    insert(apps=[CARDS["debit"], CARDS["credit"]], options=CardOptions(ppse=False, confirm=True))
    with reader.read_chip(terminal(), choose_app=lambda apps: apps[-1]) as chip:
        assert chip.aid == CARDS["credit"].aid


def test_no_card_times_out_and_cancel_stops_the_wait(slot):
    reader, _insert = slot
    with pytest.raises(CardTimeout) as info:
        reader.read_chip(terminal(), timeout=0.3)
    assert str(info.value) == "No card inserted in time — start again"
    cancel = threading.Event()
    timer = threading.Timer(0.2, cancel.set)
    timer.start()
    try:
        with pytest.raises(CardCancelled):
            reader.read_chip(terminal(), cancel=cancel, timeout=30)
    finally:
        timer.cancel()


def test_unknown_reader_pattern():
    pytest.importorskip("smartcard")
    reader = CardReader("No Such Reader", card_timeout=1)
    harness.require(harness.PCSCD_SOCKET.exists(), "pcscd is not running")
    with pytest.raises(ReaderNotFound):
        reader.read_chip(terminal())


def test_removal_and_reinsertion_are_reported_as_events(slot):
    reader, insert = slot
    seen: queue.Queue = queue.Queue()
    stop = threading.Event()

    def watch():
        try:
            for event in reader.events(timeout=60, cancel=stop):
                seen.put(event.kind)
        except (CardCancelled, CardTimeout):
            pass

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        assert seen.get(timeout=10) == "empty"
        first = insert()
        assert seen.get(timeout=10) == "inserted"
        first.remove()
        assert seen.get(timeout=10) == "removed"
        insert("credit")
        assert seen.get(timeout=10) == "inserted"
        with reader.read_chip(terminal()) as chip:
            assert chip.pan == CARDS["credit"].pan
    finally:
        stop.set()
        watcher.join(10)
    assert not watcher.is_alive()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_twenty_cards_in_a_row_leak_no_handles_or_threads(slot):
    reader, insert = slot
    names = ["debit", "credit", "low-balance", "expired"]
    threads, fds = threading.active_count(), _open_fds()
    for i in range(20):
        name = names[i % len(names)]
        virtual = insert(name, t0=bool(i % 2))
        with reader.read_chip(terminal(amount=100 + i, sequence_counter=i)) as chip:
            assert chip.pan == CARDS[name].pan
            assert chip.complete(True, host_answer(chip, CARDS[name])) == "TC"
        virtual.remove()
        assert reader.wait_for_removal(10)
    assert threading.active_count() == threads
    assert _open_fds() == fds


def test_posim_card_runs_as_a_child_process_until_sigterm(slot):
    reader, _insert = slot
    child = subprocess.Popen([sys.executable, "-m", "simulator.cli", "card", "--reader", "0", "--card", "credit",
                              "--t0"], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert "inserted in Virtual PCD 00 00 (T=0)" in child.stdout.readline()
        with reader.read_chip(terminal()) as chip:
            assert chip.pan == CARDS["credit"].pan
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=10)
    finally:
        harness.stop_process(child)
    assert child.returncode == 0, err
    assert "removed" in out
    assert CARDS["credit"].pan not in out + err


def test_posim_card_remove_at_leaves_the_reader_by_itself(slot):
    reader, _insert = slot
    child = subprocess.Popen([sys.executable, "-m", "simulator.cli", "card", "--card", "debit", "--remove-at", "read"],
                             cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        child.stdout.readline()
        with pytest.raises(CardRemoved):
            reader.read_chip(terminal())
        child.wait(10)
    finally:
        harness.stop_process(child)
    assert child.returncode == 0


def test_cancel_during_the_read_stops_before_the_next_command(slot):
    reader, insert = slot
    virtual = insert(apps=[CARDS["debit"], CARDS["credit"]], options=CardOptions(confirm=True))
    cancel = threading.Event()

    def cashier_presses_cancel(apps):
        cancel.set()
        return apps[0]

    with pytest.raises(CardCancelled):
        reader.read_chip(terminal(), cancel=cancel, choose_app=cashier_presses_cancel)
    assert "select" not in virtual.steps_seen
    assert not reader.last_session.worker_alive
