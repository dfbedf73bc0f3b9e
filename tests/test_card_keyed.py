"""Manual key entry (supervisor only, 22 = 01x) and the magnetic-stripe fallback rule (60.5 = 2)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.emv.card_errors import (CardBlocked, CardMute, CardRemoved, ManualEntryRefused,
                                       NoSupportedApplication, UnexpectedStatusWord)
from agent.emv.data import fallback_entry_mode
from agent.drivers.keyed import fallback_allowed, keyed_entry, luhn_ok
from agent.errors import UsageError

TODAY = dt.date(2026, 11, 23)


def test_keyed_entry_needs_configuration_and_a_supervisor():
    with pytest.raises(ManualEntryRefused):
        keyed_entry("6226090000000048", "3012", allowed=False, supervisor_authorised=True, today=TODAY)
    with pytest.raises(ManualEntryRefused):
        keyed_entry("6226090000000048", "3012", allowed=True, supervisor_authorised=False, today=TODAY)
    card = keyed_entry("6226090000000048", "3012", allowed=True, supervisor_authorised=True, today=TODAY)
    assert (card.entry_mode, card.expiry, card.masked_pan) == ("012", "3012", "622609******0048")
    assert "6226090000000048" not in repr(card)


@pytest.mark.parametrize("pan,expiry", [("6226090000000049", "3012"), ("62260900", "3012"),
                                        ("6226090000000048", "3013"), ("6226090000000048", "2001"),
                                        ("６226090000000048", "3012")])
def test_keyed_entry_rejects_bad_numbers_and_dates(pan, expiry):
    with pytest.raises(UsageError):
        keyed_entry(pan, expiry, allowed=True, supervisor_authorised=True, today=TODAY)


@settings(max_examples=100)
@given(st.text(alphabet="0123456789", min_size=12, max_size=18))
def test_exactly_one_check_digit_makes_a_valid_pan(body):
    assert sum(luhn_ok(body + d) for d in "0123456789") == 1


def test_fallback_only_for_chip_failures_and_only_when_configured():
    for error in (CardMute(), NoSupportedApplication(), UnexpectedStatusWord(sw=0x6F00)):
        assert fallback_allowed(error, configured=True)
        assert not fallback_allowed(error, configured=False)
    for error in (CardRemoved(), CardBlocked()):
        assert not fallback_allowed(error, configured=True)
    assert (fallback_entry_mode(True), fallback_entry_mode(False)) == ("801", "802")


def test_reader_settings_come_from_the_card_reader_section():
    from agent import config
    from agent.drivers.pcsc import CardReader

    cfg = config.from_mapping({"card_reader": {"reader": "Virtual PCD 00 01", "card_timeout": 12,
                                               "apdu_timeout": 0.5}})
    reader = CardReader.from_config(cfg)
    assert (reader.pattern, reader.card_timeout, reader.apdu_timeout) == ("Virtual PCD 00 01", 12.0, 0.5)
