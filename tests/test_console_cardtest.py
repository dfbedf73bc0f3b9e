"""`card test` through the real PC/SC stack: ATR and applications shown, the card number never read."""

from __future__ import annotations

import pytest

from agent import config
from agent.console.cardtest import run_card_test
from agent.console.commands import CommandTable
from agent.console.context import ConsoleContext
from agent.drivers.pcsc import CardReader
from simulator.card import VirtualCard
from simulator.testcards import load_cards

pytestmark = pytest.mark.realstack

READER = "Virtual PCD 00 01"  # slot 1: the card-flow tests use slot 0
PORT = 35964
CARDS = load_cards()


@pytest.fixture
def insert(pcscd):
    reader = CardReader(READER, card_timeout=10, apdu_timeout=1.0)
    assert reader.wait_for_removal(10), "slot 0 still holds a card from elsewhere"
    inserted: list[VirtualCard] = []

    def put(card: str = "debit", *, t0: bool = False) -> VirtualCard:
        virtual = VirtualCard(CARDS[card], PORT, t0=t0).start()
        inserted.append(virtual)
        return virtual

    yield put
    for virtual in inserted:
        virtual.remove()
    assert reader.wait_for_removal(10)


@pytest.mark.parametrize("t0", [False, True], ids=["T=1", "T=0"])
def test_card_test_shows_atr_protocol_and_applications_but_never_the_pan(insert, t0):
    card = CARDS["debit"]
    virtual = insert("debit", t0=t0)
    shown = run_card_test(READER, 10, apdu_timeout=2.0)
    assert f"ATR       {virtual.applet.atr.hex().upper()}" in shown
    assert f"protocol  {'T=0' if t0 else 'T=1'}" in shown
    assert "A0000003330101" in shown and "card test ok" in shown
    assert card.pan not in shown and card.pan[-4:] not in shown
    assert "read" not in virtual.steps_seen and "gpo" not in virtual.steps_seen


def test_card_test_from_the_command_table_and_without_a_card(pcscd, insert):
    cfg = config.from_mapping({"card_reader": {"reader": READER}})
    commands = CommandTable(ConsoleContext(client=None, cfg=cfg,
                                           card_test=lambda timeout: run_card_test(READER, timeout)))
    assert "card test failed: No card inserted in time" in commands.run("card test 1").text
    insert("credit")
    shown = commands.run("card test 10").text
    assert "A0000003330102" in shown and "chip params: unknown (the daemon is not running)" in shown


def test_card_test_names_the_chip_parameter_set_in_force(tmp_path, sim_host, insert):
    from agent.control_client import ControlClient
    from tests.agentproc import start_agent

    agent = start_agent(tmp_path, sim_host.port)
    try:
        cfg = config.load(agent.config)
        commands = CommandTable(ConsoleContext(client=ControlClient(agent.socket, timeout=60, source="console"),
                                               cfg=cfg, card_test=lambda timeout: run_card_test(READER, timeout)))
        insert("debit")
        shown = commands.run("card test 10").text
        params = agent.call("status")["result"]["params"]
        assert f"chip params {params['version']} digest {params['digest']} from the local files" in shown, shown
        assert shown.index("card test ok") < shown.index("chip params")
    finally:
        agent.stop()


def test_card_test_names_a_reader_that_is_not_there(pcscd):
    assert "no card reader matches 'No Such Reader'" in run_card_test("No Such Reader", 1)
