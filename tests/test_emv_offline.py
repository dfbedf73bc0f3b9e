"""Offline approvals and their advices, fast: the sealed card, the advice message, the acquirer's rules.

The whole path (pcscd, the daemon, a restart before the advice, settlement) is in
test_daemon_emv_terminal.py."""

from __future__ import annotations

import pytest

from agent.drivers.cardseal import CardSealer, SealError, binding_of
from agent.engine.requests import advice_from_record, offline_sale_message
from agent.engine.requests import CardData, Profile
from agent.iso8583 import Message, tlv
from agent.iso8583.dump import message_to_json
from simulator.host.ledger import Ledger
from simulator.host.processing import HostProcessor
from simulator.testcards import load_cards
from tests.simhost import CUP, DEFAULT_TMK
from tests.test_card_flow import read
from tests.test_host_processing import Terminal

CARDS = load_cards()
PROFILE = Profile(terminal_id="10000001", merchant_id="123456789012345")
KEY = bytes(range(32))


@pytest.fixture
def terminal():
    ledger = Ledger(":memory:")
    yield Terminal(HostProcessor(ledger, CARDS, dialect=CUP, tmk_for=lambda tid: DEFAULT_TMK)), ledger
    ledger.close()


def offline_card(amount: int = 2000) -> CardData:
    chip, _ = read("offline", amount=amount, floor_limit=5000, offline_approvals=True)
    assert chip.approved_offline
    return CardData(pan=chip.pan, expiry=chip.expiry, entry_mode=chip.entry_mode, sequence=chip.sequence,
                    field55=chip.field55, approved_offline=True)


def with_icc(message: Message, tag: int, value: bytes) -> Message:
    items = [tlv.Tlv(i.tag, value if i.tag == tag else i.value) for i in tlv.decode(message[55])]
    return Message(message.mti, {**message.fields, 55: tlv.encode(items)})


def rows(ledger: Ledger) -> list[tuple[str, str, int]]:
    return [(r["kind"], r["response_code"], r["amount"]) for r in ledger.read("SELECT * FROM txns ORDER BY id")]


# -- the sealed card ----------------------------------------------------------------------------------

def test_a_sealed_card_opens_only_with_its_key_and_its_amount():
    sealer = CardSealer(KEY)
    sealed = sealer.seal("6226090000000162", "3012", b"\x9F\x27\x01\x40", binding=binding_of(2000))
    assert "6226090000000162" not in sealed
    assert sealer.open(sealed, binding=binding_of(2000)) == ("6226090000000162", "3012", b"\x9F\x27\x01\x40", None)
    with pytest.raises(SealError):
        sealer.open(sealed, binding=binding_of(2001))  # moved to another sale
    with pytest.raises(SealError):
        CardSealer(bytes(32)).open(sealed, binding=binding_of(2000))  # another terminal's key
    middle = len(sealed) // 2  # a character in the middle: it always carries ciphertext bits
    flipped = sealed[:middle] + ("A" if sealed[middle] != "A" else "B") + sealed[middle + 1:]
    with pytest.raises(SealError):
        sealer.open(flipped, binding=binding_of(2000))
    for garbage in ("", "s1:", "s2:AAAA", "s1:!!!!"):
        with pytest.raises(SealError):
            sealer.open(garbage, binding=binding_of(2000))
    with pytest.raises(ValueError):
        CardSealer(b"short")


# -- the advice message --------------------------------------------------------------------------------

def test_the_advice_is_a_0220_offline_sale_with_the_tc_and_no_track_data():
    card = offline_card()
    advice = offline_sale_message(PROFILE, trace=7, batch=1, amount=2000, card=card)
    assert advice.mti == "0220" and advice[3] == "000000" and advice[60].startswith("30")
    assert 35 not in advice and 52 not in advice and advice[2] == card.pan
    assert tlv.find(tlv.decode(advice[55]), 0x9F27) == b"\x40"


def test_the_advice_rebuilt_after_a_restart_is_the_same_message():
    card = offline_card()
    first = offline_sale_message(PROFILE, trace=7, batch=1, amount=2000, card=card)
    record = message_to_json(first, masked=True)

    class Txn:
        trace, batch, amount, entry_mode = 7, 1, 2000, card.entry_mode
    again = advice_from_record(PROFILE, Txn, record, card.pan, card.expiry, card.field55)
    assert CUP.encode(again) == CUP.encode(first)


# -- the acquirer -------------------------------------------------------------------------------------------

def test_the_acquirer_books_a_valid_tc_once_even_when_the_advice_comes_again(terminal):
    term, ledger = terminal
    advice = offline_sale_message(PROFILE, trace=term.next_stan(), batch=int(term.signon.batch_number),
                                  amount=2000, card=offline_card())
    first = term.send(advice)
    assert first[39] == "00" and first[37]
    again = term.send(advice)  # the first answer was lost: the same advice again
    assert again[39] == "00" and again[37] == first[37]
    assert rows(ledger) == [("sale", "00", 2000)]
    assert ledger.card_net_charged("offline") == 2000


@pytest.mark.parametrize("tag, value, code", [
    (0x9F26, bytes(8), "34"),  # a TC that does not verify
    (0x9F27, b"\x80", "30"),  # not a TC: an advice of an offline approval carries one
    (0x9F02, bytes.fromhex("000000009999"), "34"),  # the TC covers another amount
])
def test_a_bad_tc_is_booked_declined_and_never_charged(terminal, tag, value, code):
    term, ledger = terminal
    advice = offline_sale_message(PROFILE, trace=term.next_stan(), batch=int(term.signon.batch_number),
                                  amount=2000, card=offline_card())
    answer = term.send(with_icc(advice, tag, value))
    assert answer[39] == code
    assert rows(ledger) == [("sale", code, 2000)] and ledger.card_net_charged("offline") == 0


@pytest.mark.parametrize("language, text", [("en", "APPROVED OFFLINE"), ("zh", "脱机批准")])
def test_the_receipt_of_an_offline_approval_says_so_until_its_advice_is_answered(language, text):
    from agent.engine.receipts import render_receipt

    class Txn:
        kind, state, response_code, pan_masked, entry_mode = "sale", "advice_pending", None, "622609******0162", "052"
        batch, trace, rrn, auth_code, created_at, amount = 1, 2, None, None, 0.0, 2000
    receipt = render_receipt(Txn, merchant_name="SHOP", terminal_id="10000001", merchant_id="123456789012345",
                             language=language)
    assert text in receipt and "6226090000000162" not in receipt


# -- the journal -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("approved, code", [(True, "00"), (False, "34")])
def test_an_answered_advice_keeps_its_evidence_and_destroys_its_sealed_card(tmp_path, approved, code):
    from agent.journal import Journal

    card = offline_card()
    sealed = CardSealer(KEY).seal(card.pan, card.expiry, card.field55, binding=binding_of(2000))
    journal = Journal.open(tmp_path / "journal.db", fingerprint_key=KEY)
    try:
        txn = journal.begin("sale", amount=2000, currency="156", pan=card.pan, entry_mode=card.entry_mode,
                            operator="01", role="cashier", advice=True,
                            request=lambda trace, batch: {**message_to_json(offline_sale_message(
                                PROFILE, trace=trace, batch=batch, amount=2000, card=card), masked=True),
                                "sealed_card": sealed})
        assert journal.advice_record(txn.id)["sealed_card"] == sealed  # kept while the advice is owed
        journal.advice_failed(txn.id, "no answer")
        assert journal.advice_record(txn.id)["sealed_card"] == sealed  # a failed try keeps it for the next
        journal.complete(txn.id, approved=approved, response_code=code, rrn="000000000009", auth_code=None,
                         response={"mti": "0230", "39": code})
        record = journal.advice_record(txn.id)
        assert "sealed_card" not in record  # the acquirer has the sale: nothing of the card is kept
        assert record["fields"]["55"] and record["fields"]["2"].count("*")  # the masked advice stays
        assert {"tag": "9F27", "value": "40"}.items() <= record["subfields"]["55"][1].items()  # the TC: evidence
        assert journal.pending_advices() == []
    finally:
        journal.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("journal.db*"))
    assert sealed.encode()[-40:] not in raw  # nor left behind anywhere in the files
