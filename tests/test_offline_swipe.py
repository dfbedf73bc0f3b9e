"""Swiped and keyed sales stored while the bank cannot be reached (`[offline] entry_modes = "chip,swipe,keyed"`):
approved by the merchant's limits alone, journaled with the card sealed (track 2 included) until the bank
answers, forwarded once as advices (0220 without field 55) — across a SIGKILL after forwarding began —, and
the issuer's own checks (funds, a blocked card) surfaced as declined after forwarding.

End to end with no card reader: named test cards (`card`, read as swipes; `keyed` as a supervisor keys them)
→ the daemon → real TCP → `posim host` with an outage fault, each checked on the host's ledger and on the
journal file's bytes."""

from __future__ import annotations

import pytest

from simulator.testcards import load_cards
from tests.agentproc import SUPERVISOR_PASSWORD, start_agent
from tests.test_daemon_emv_terminal import host_codes
from tests.test_journal_pci import _forbidden, _scan
from tests.test_offline_selling import go_offline, refused_for, wait_for

CARDS = load_cards()
LIMITS = """[offline]
enabled = true
max_amount = "100.00"
max_total = "300.00"
max_count = 5
retry_seconds = 2
after_unanswered = 2
"""
SETTINGS = LIMITS + 'entry_modes = "chip,swipe,keyed"\n[card_reader]\nmanual_entry = true\n'


# -- the setting, the sealed copy and the advice, fast -----------------------------------------------------

@pytest.mark.parametrize("value, says", [
    ("chip,magnetic", "got 'magnetic' in 'chip,magnetic'"), ("Swipe", "got 'Swipe'"),
    ("chip,swipe,chip", "'chip' is named twice"), ("", "got ''"), (" , ", "got ''"), ("chip,", "got ''")])
def test_bad_entry_modes_are_one_line_naming_the_setting(value, says):
    from agent import config
    from agent.errors import PosagentError

    with pytest.raises(PosagentError) as refused:
        config.from_mapping({"offline": {"enabled": True, "entry_modes": value}})
    text = str(refused.value)
    assert text.startswith("offline.entry_modes: ") and says in text and "\n" not in text, text
    assert "chip, swipe, keyed" in text or "named twice" in text, text


def test_entry_modes_default_to_chip_and_name_the_field_22_values_stored():
    from agent import config, settings
    from agent.engine.requests import Profile
    from agent.engine.card.store_forward import ENTRY_MODES, stored_modes

    assert tuple(ENTRY_MODES) == settings.OFFLINE_ENTRY_MODES  # the setting's words are the engine's table
    default = Profile.from_config(config.from_mapping({"offline": {"enabled": True}}))
    assert default.offline.entry_modes == ("chip",) and stored_modes(default) == {"051", "052"}
    every = Profile.from_config(config.from_mapping({"offline": {"enabled": True, "entry_modes": " swipe, keyed,chip"}}))
    assert every.offline.entry_modes == ("swipe", "keyed", "chip")
    assert stored_modes(every) == {"051", "052", "022", "802", "011", "012"}  # never 021/801: a PIN is not kept
    no_fallback = Profile.from_config(config.from_mapping({"offline": {"enabled": True, "entry_modes": "swipe"},
                                                           "card_reader": {"fallback": False}}))
    assert stored_modes(no_fallback) == {"022"}


def test_a_swipe_s_sealed_copy_holds_its_track_2_and_its_advice_carries_it():
    from agent.drivers.cardseal import CardSealer, SealError, binding_of
    from agent.engine.requests import advice_from_record, offline_sale_message
    from agent.engine.requests import CardData, Profile

    card = CARDS["debit"]
    sealer = CardSealer(bytes(range(32)))
    sealed = sealer.seal(card.pan, card.expiry, b"", track2=card.track2, binding=binding_of(4000))
    assert card.pan not in sealed and card.track2 not in sealed
    assert sealer.open(sealed, binding=binding_of(4000)) == (card.pan, card.expiry, b"", card.track2)
    with pytest.raises(SealError):
        sealer.open(sealed, binding=binding_of(4001))

    profile = Profile("10000001", "123456789012345")
    swiped = offline_sale_message(profile, trace=7, batch=1, amount=4000, card=CardData(
        pan=card.pan, expiry=card.expiry, entry_mode="022", track2=card.track2, source="test-card"))
    assert swiped.mti == "0220" and swiped[22] == "022" and swiped[35] == card.track2 and 55 not in swiped
    assert swiped[60][:2] == "30" and swiped[3] == "000000" and swiped[2] == card.pan

    class Txn:
        trace, batch, amount, entry_mode = 7, 1, 4000, "022"
    again = advice_from_record(profile, Txn, {"fields": {}}, *sealer.open(sealed, binding=binding_of(4000)))
    assert again == swiped  # rebuilt from the sealed copy: the same message each time
    keyed = offline_sale_message(profile, trace=8, batch=1, amount=100, card=CardData(
        pan=card.pan, expiry=card.expiry, entry_mode="012", source="manual"))
    assert keyed[22] == "012" and 35 not in keyed and 55 not in keyed and keyed[14] == card.expiry


# -- end to end -----------------------------------------------------------------------------------------

@pytest.fixture
def terminal(tmp_path, sim_host):
    agent = start_agent(tmp_path, sim_host.port, extra=SETTINGS)
    yield agent
    agent.stop()


def cut_line(agent, sim_host) -> None:
    """Sign on, cut the line, and wait until the terminal knows (an echo fails), so no sale is caught halfway."""
    go_offline(agent, sim_host)
    assert wait_for(lambda: not agent.call("echo")["ok"] and agent.call("status")["result"]["link"]["state"] == "down")


def swipe(agent, amount: int, card: str = "debit") -> dict:
    return agent.call("sale", {"amount": amount, "card": card, "confirm_duplicate": True})


def keyed(agent, amount: int, card: str = "debit", password: str | None = SUPERVISOR_PASSWORD) -> dict:
    return agent.call("sale", {"amount": amount, "card": card, "keyed": True, "confirm_duplicate": True},
                      password=password)


def stored(reply: dict, entry_mode: str) -> dict:
    assert reply["ok"] and reply["outcome"]["status"] == "approved", reply
    details = reply["outcome"]["details"]
    assert details["offline"] and details["advice"] == "pending" and details["entry_mode"] == entry_mode, details
    assert "cryptogram" not in details and "arc" not in details  # no card decided: the merchant's limits did
    assert "stored offline" in reply["outcome"]["message"] and "may still decline" in reply["outcome"]["message"]
    txn = reply["outcome"]["txn"]
    assert txn["state"] == "advice_pending" and txn["entry_mode"] == entry_mode
    return txn


def journal_files(agent) -> list:
    return sorted(agent.directory.glob("journal.db*"))


def card_patterns(*names: str) -> dict[str, bytes]:
    """Each card's PAN and track 2 in clear (ASCII, BCD, UTF-16), as the PCI scan looks for them."""
    return _forbidden([CARDS[n] for n in names])


def sent_mtis(agent, txn_id: int) -> list[str]:
    shown = agent.json("journal", "show", str(txn_id))
    return [m["body"]["mti"] for m in shown["messages"] if m["direction"] == "sent"]


def test_swiped_and_keyed_sales_are_stored_sealed_and_forwarded_once_across_a_sigkill(terminal, sim_host):
    agent = terminal
    assert agent.call("signon")["ok"]
    sim_host.fault("outage:seconds=15")  # the line comes back by itself
    sim_host.fault("drop_response:count=1,mti=0220")  # then the bank books the first advice and its answer is lost
    first = stored(swipe(agent, 4000), "022")
    second = stored(keyed(agent, 2500, card="credit"), "012")
    assert refused_for(swipe(agent, 10001)) == "max_amount"  # the same limits as a chip sale
    assert host_codes(sim_host, "debit") == []

    # at rest: the masked request and the card sealed (track 2 too); nothing of either card in clear
    shown = agent.json("journal", "show", str(first["id"]))
    assert shown["transaction"]["entry_mode"] == "022" and "*" in shown["messages"][0]["body"]["fields"]["2"], shown
    assert '"22": "022"' in agent.cli("journal", "show", str(first["id"])).stdout  # the stored advice says how it was read
    assert "APPROVED OFFLINE" in agent.cli("receipt", str(first["id"])).stdout
    assert _scan(journal_files(agent), card_patterns("debit", "credit")) == []

    # forwarding begins: the first advice is booked, its answer lost — and the power goes
    assert wait_for(lambda: host_codes(sim_host, "debit") == ["00"], 40), sim_host.ledger()
    agent.kill()
    agent.start()
    assert wait_for(lambda: agent.call("status")["result"]["offline"]["stored"] == 0, 30), agent.call("status")
    assert host_codes(sim_host, "debit") == ["00"] and host_codes(sim_host, "credit") == ["00"]  # each booked once
    assert sent_mtis(agent, first["id"])[-1] == "0221"  # sent again as a repeat, answered from its booking
    ledger = sim_host.ledger()["cards"]
    assert ledger["debit"]["net_charged"] == 4000 and ledger["credit"]["net_charged"] == 2500
    # the host's ledger is the journal: the same sales, amounts and outcomes
    found = {t["trace"]: (t["amount"], t["state"], t["entry_mode"])
             for t in agent.call("lookup", {"kind": "sale"})["result"]["transactions"]}
    assert found == {first["trace"]: (4000, "approved", "022"), second["trace"]: (2500, "approved", "012")}, found
    assert _scan(journal_files(agent), card_patterns("debit", "credit")) == []
    for txn in (first, second):  # the sealed copies are gone with the answer
        assert "sealed_card" not in agent.cli("journal", "show", str(txn["id"]), "--json").stdout


def test_a_forwarded_swipe_the_issuer_declines_is_declined_after_forwarding(terminal, sim_host):
    agent = terminal
    cut_line(agent, sim_host)
    poor = stored(swipe(agent, 8000, card="low-balance"), "022")  # 80.00 on a card with 50.00 left
    blocked = stored(swipe(agent, 1200, card="lost"), "022")  # the issuer has it blocked
    sim_host.control(op="clear")
    assert wait_for(lambda: agent.call("status")["result"]["offline"]["stored"] == 0, 30), agent.call("status")
    assert host_codes(sim_host, "low-balance") == ["51"] and host_codes(sim_host, "lost") == ["41"]
    assert sim_host.ledger()["cards"].get("low-balance", {}).get("net_charged", 0) == 0
    status = agent.call("status")["result"]
    assert status["offline"]["declined"] == 2 and status["offline"]["unseen"] == 2, status
    listed = agent.json("offline", "declined")["result"]["declined"]
    assert sorted((t["trace"], t["amount"]) for t in listed) == sorted(
        [(poor["trace"], 8000), (blocked["trace"], 1200)])
    shown = agent.cli("offline", "declined").stdout
    assert "merchant bears it" in shown and "declined 51" in shown, shown
    assert _scan(journal_files(agent), card_patterns("low-balance", "lost")) == []


def test_a_keyed_sale_needs_the_supervisor_and_manual_entry(terminal, sim_host, tmp_path):
    agent = terminal
    cut_line(agent, sim_host)
    no_password = keyed(agent, 1000, password=None)
    assert not no_password["ok"] and no_password["error"]["code"] == "auth", no_password
    assert agent.call("status")["result"]["offline"]["stored"] == 0
    cli = agent.cli("sale", "10.00", "--card", "debit", "--keyed", password=True)  # the CLI asks the password
    assert cli.returncode == 0 and "stored offline" in cli.stdout, cli
    assert agent.call("status")["result"]["offline"]["stored"] == 1


def test_without_swipe_in_entry_modes_a_swipe_is_refused_offline_in_both_languages(tmp_path, sim_host):
    for language, words in (("en", ("swiped", "offline.entry_modes = chip", "insert the card")),
                            ("zh", ("刷卡", "offline.entry_modes = chip", "请插卡"))):
        directory = tmp_path / language
        directory.mkdir()
        agent = start_agent(directory, sim_host.port, extra=f'[terminal]\nlanguage = "{language}"\n{LIMITS}')
        try:
            if language == "en":
                cut_line(agent, sim_host)  # the line stays cut for the next terminal too
            reply = swipe(agent, 1000)
            assert not reply["ok"] and reply["error"]["code"] == "offline", reply
            text = reply["error"]["message"]
            assert all(w in text for w in words) and "\n" not in text, text
            refused = keyed(agent, 1000)  # keyed: manual entry is off on this terminal
            assert not refused["ok"] and "manual_entry" in refused["error"]["message"], refused
            assert agent.call("status")["result"]["offline"]["stored"] == 0
        finally:
            agent.stop()
    assert "debit" not in sim_host.ledger()["cards"]


def test_a_card_type_the_merchant_does_not_store_is_refused_offline_the_others_stored(tmp_path, sim_host):
    """`[offline] card_types = "debit"`: a credit card (its number under `[settlement_fees] credit_bins`) is
    refused with its reason in both languages and nothing is stored; a debit card is stored as before."""
    for language, words in (("en", ("a credit card is not stored offline", "offline.card_types = debit")),
                            ("zh", ("贷记卡不可脱机", "offline.card_types = debit"))):
        directory = tmp_path / language
        directory.mkdir()
        agent = start_agent(directory, sim_host.port, extra=f'[terminal]\nlanguage = "{language}"\n{LIMITS}'
                                                             'entry_modes = "chip,swipe"\ncard_types = "debit"\n')
        try:
            if language == "en":
                cut_line(agent, sim_host)  # the line stays cut for the next terminal too
            reply = swipe(agent, 1000, card="credit")
            assert not reply["ok"] and reply["error"]["code"] == "offline", reply
            assert all(w in reply["error"]["message"] for w in words), reply["error"]["message"]
            assert agent.call("status")["result"]["offline"]["stored"] == 0
            debit = swipe(agent, 1000)
            assert debit["ok"] and debit["outcome"]["txn"]["state"] == "advice_pending", debit
        finally:
            agent.stop()
    assert "credit" not in sim_host.ledger()["cards"]


@pytest.mark.parametrize("value, says", [("debit,prepaid", "got 'prepaid'"), ("credit,credit", "named twice"),
                                         ("", "got ''")])
def test_bad_card_types_are_one_line_naming_the_setting(value, says):
    from agent import config
    from agent.errors import PosagentError

    with pytest.raises(PosagentError) as refused:
        config.from_mapping({"offline": {"enabled": True, "card_types": value}})
    text = str(refused.value)
    assert text.startswith("offline.card_types: ") and says in text and "\n" not in text, text


# -- the issuer's first look at a swiped or keyed advice, sans-IO -----------------------------------------

def test_the_host_checks_an_advice_without_field_55_as_an_online_sale_and_books_it_once():
    from agent.engine.requests import offline_sale_message
    from agent.engine.requests import CardData, Profile
    from simulator.host.ledger import Ledger
    from simulator.host.processing import HostProcessor
    from tests.simhost import CUP, DEFAULT_TMK
    from tests.test_host_processing import Terminal

    ledger = Ledger(":memory:")
    try:
        terminal = Terminal(HostProcessor(ledger, CARDS, dialect=CUP, tmk_for=lambda tid: DEFAULT_TMK))
        profile = Profile("10000001", "123456789012345")

        def advice(name: str, amount: int, entry_mode: str = "022", track2: str | None = None, mti: str = "0220",
                   stan: int | None = None):
            card = CARDS[name]
            track = (track2 or card.track2) if entry_mode.startswith("02") else None
            message = offline_sale_message(profile, trace=stan or terminal.next_stan(),
                                           batch=int(terminal.signon.batch_number), amount=amount,
                                           card=CardData(pan=card.pan, expiry=card.expiry, entry_mode=entry_mode,
                                                         track2=track))
            return terminal.send(message.with_mti(mti))[39]

        assert advice("debit", 4000) == "00"
        assert advice("debit", 4000, entry_mode="012") == "00"  # keyed: PAN and expiry only
        assert advice("low-balance", 5001) == "51"  # 50.00 on the card: the funds decide, as online
        assert advice("lost", 100) == "41" and advice("declined", 100) == "05"
        assert advice("expired", 100) == "54"
        other = CARDS["credit"].track2
        assert advice("debit", 100, track2=other) == "14"  # a track 2 that is not the card's own
        assert advice("debit", 100, entry_mode="052") == "30"  # a chip read's advice must carry its TC
        repeat = terminal.next_stan()
        assert advice("debit", 700, stan=repeat) == "00"
        assert advice("debit", 700, stan=repeat, mti="0221") == "00"  # answered from its booking
        rows = ledger.read("SELECT response_code FROM txns WHERE stan = ?", (f"{repeat:06d}",))
        assert [r["response_code"] for r in rows] == ["00"]  # booked once
    finally:
        ledger.close()


def test_a_chip_card_s_type_is_read_from_its_application_in_field_55():
    from agent.cardtypes import card_type
    from agent.engine.card.store_forward import _aid
    from agent.iso8583 import tlv

    icc = tlv.encode([tlv.Tlv(0x9F27, b"\x40"), tlv.Tlv(0x84, bytes.fromhex("A000000333010102"))])
    assert _aid(icc) == "A000000333010102"
    assert card_type("622609******0048", ("625094",), _aid(icc)) == "credit"  # the chip's word over the prefix
    assert _aid(None) is None and _aid(b"\x9f") is None  # no field 55, or one that does not parse
