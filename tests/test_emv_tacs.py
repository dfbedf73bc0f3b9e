"""Terminal action codes per AID: the `[emv] tacs` table, its checks, and the decision it leads to.

The same table goes through real pcscd and the daemon in test_daemon_emv_terminal.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent import config
from agent.emv import oda
from agent.emv.card_errors import CardAuthenticationFailed
from agent.emv.flow import EmvReader
from agent.emv.data import action_analysis
from agent.tacs import DEFAULT_TACS, ActionCodes, TacTable, build_table, parse_entries
from agent.errors import ConfigError
from simulator.card.applet import EmvApplet
from simulator.testcards import load_cards
from tests.card_loopback import LoopbackSession, terminal
from tests.test_emv_oda import _model, five, sparse

CARDS = load_cards()
FLAT = ActionCodes(bytes(5), bytes.fromhex("DC4004F800"), bytes.fromhex("DC4000A800"))


def test_the_default_table_is_the_data_and_parses_back_to_it():
    cfg = config.from_mapping({})
    assert parse_entries(cfg.emv.tacs) == DEFAULT_TACS
    table = build_table(cfg.emv.tacs, FLAT)
    assert table.for_aid(bytes.fromhex("A0000003330101")).denial == bytes.fromhex("0010000000")


@pytest.mark.parametrize("text, message", [
    ("A0000003330101 online=DC40", "emv.tacs: AID A0000003330101: online must be 10 hex digits, got 'DC40'"),
    ("A0000003330102 onlin=DC4004F800", "emv.tacs: AID A0000003330102: 'onlin=DC4004F800' is not denial="),
    ("A0000003330101 denial=0000000000 denial=0000000000", "AID A0000003330101: denial is given twice"),
    ("A0000003330101 denial=0000000000; A0000003330101 online=0000000000", "AID A0000003330101 is listed twice"),
    ("A0000003330101", "AID A0000003330101: no action code given"),
    ("A00000033 online=0000000000", "entry 1: 'A00000033' is not an AID"),
    ("A0000003330101 online=0000000000;; A0000003330102 online=0000000000", "entry 2 is empty"),
])
def test_a_bad_table_is_one_line_naming_the_key_and_the_aid(text, message):
    with pytest.raises(ConfigError) as caught:
        config.from_mapping({"emv": {"tacs": text}}, source="posagent.toml")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_longest_listed_aid_wins_and_unlisted_aids_take_the_flat_codes():
    table = build_table("A000000333 online=1111111111; A0000003330101 denial=2222222222", FLAT)
    debit = table.for_aid(bytes.fromhex("A000000333010101"))
    assert debit.denial == bytes.fromhex("2222222222") and debit.online == FLAT.online  # left out: flat
    assert table.for_aid(bytes.fromhex("A0000003330102")).online == bytes.fromhex("1111111111")
    assert table.for_aid(bytes.fromhex("A0000000031010")) == FLAT


def test_a_denial_code_for_one_aid_declines_only_cards_of_that_application():
    table = build_table("A0000003330101 denial=0800000000; A0000003330102 denial=0000000000", FLAT)
    no_ca = oda.CaKeys()  # authentication fails for every card: DDA failed (debit), CDA failed (credit)
    debit = EmvReader(LoopbackSession(EmvApplet([CARDS["debit"]])), terminal(ca_keys=no_ca, tacs=table))
    with pytest.raises(CardAuthenticationFailed):
        debit.read()
    credit = EmvReader(LoopbackSession(EmvApplet([CARDS["credit"]])), terminal(ca_keys=no_ca, tacs=table))
    chip = credit.read()
    assert chip.tags[0x9F27] == b"\x80"  # online: CDA failed is in the online code, not this AID's denial


aids = st.sampled_from(["A000000333", "A0000003330101", "A0000003330102", "A000000333010101", "A0000000031010"])
codes = st.builds(ActionCodes, sparse, five, five)


@given(tvr=sparse, iac_denial=st.none() | sparse, iac_online=st.none() | five, iac_default=st.none() | five,
       table=st.dictionaries(aids, codes, max_size=4), fallback=codes, card_aid=aids,
       online_capable=st.booleans())
def test_action_analysis_with_per_aid_codes_matches_the_book(tvr, iac_denial, iac_online, iac_default, table,
                                                             fallback, card_aid, online_capable):
    """The model picks the codes by reading the table literally: every listed AID the card's AID starts
    with, the longest one; none: the flat codes."""
    matching = sorted((aid for aid in table if card_aid.startswith(aid)), key=len)
    expected_codes = table[matching[-1]] if matching else fallback
    built = TacTable(fallback, tuple((bytes.fromhex(aid), c) for aid, c in table.items()))
    tac = terminal(tacs=built).action_codes(bytes.fromhex(card_aid))
    assert tac == expected_codes
    got = action_analysis(tvr, iac_denial=iac_denial, iac_online=iac_online, iac_default=iac_default,
                          tac_denial=tac.denial, tac_online=tac.online, tac_default=tac.default,
                          online_capable=online_capable)
    assert {0x00: "AAC", 0x80: "ARQC", 0x40: "TC"}[got] == _model(
        tvr, iac_denial, iac_online, iac_default, expected_codes.denial, expected_codes.online,
        expected_codes.default, online_capable)
