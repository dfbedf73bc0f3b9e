"""The amount guards of every new payment (S1 prevention): the terminal's maximum and the unusually large
amount, for card sales, payment-code sales and pre-auths alike — from a new terminal's first sale on.

Through the engine (tests/enginekit.py: the real journal, codec and the simulator's acquirer) as
properties over all amounts; then through the real daemon, the CLI and `posim host`, checked on the
bank's ledger."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from agent import config, registry
from agent.engine import amount_guards as guards, purchases as ops
from agent.engine.card import sale as card_sale
from agent.engine.preauth import plans as pa
from agent.engine.wallet import plans as w
from agent.engine.effects import EngineError
from agent.engine.requests import Profile
from agent.errors import ConfigError
from tests.enginekit import CASHIER, PROFILE, SUPERVISOR
from tests.walletkit import SETTINGS, WalletWorld

TYPICAL = PROFILE.typical_amount  # 500.00: the configuration's default until there are 5 sales
ASKS_AT = int(TYPICAL * PROFILE.unusual_amount_multiple)  # 5,000.00
MAXIMUM = PROFILE.max_amount  # 50,000.00
FAMILIES = ("sale", "wallet_sale", "preauth")


def pay(world: WalletWorld, family: str, amount: int, profile: Profile = PROFILE, **confirm):
    """One new payment of `family` on `world`, as the daemon's plans make it."""
    if family == "sale":
        return world.run(card_sale.sale(profile, card_sale.SaleRequest(amount, test_card="debit", **confirm), CASHIER))
    if family == "wallet_sale":
        return world.run(w.wallet_sale(profile, SETTINGS, w.WalletSaleRequest(amount, world.code("alice"), **confirm),
                                       CASHIER))
    return world.run(pa.preauth(profile, pa.PreauthRequest(amount, test_card="debit", **confirm), SUPERVISOR))


def on_the_bank(world: WalletWorld) -> int:
    """Everything the bank moved or holds for this terminal's customers (sales, payments and holds)."""
    counts = world.ledger.net_report()["counts"]
    return sum(n for kind in counts.values() for n in kind.values())


class fresh_world:
    """A new terminal (empty journal, new bank) per hypothesis example."""

    def __enter__(self) -> WalletWorld:
        self._dir = tempfile.TemporaryDirectory()
        self.world = WalletWorld(Path(self._dir.name))
        return self.world

    def __exit__(self, *exc) -> None:
        self.world.close()
        self._dir.cleanup()


AMOUNTS = st.one_of(st.integers(1, 2 * MAXIMUM),
                    st.integers(1, 99_999).map(lambda units: units * 100),  # whole units: the point forgotten?
                    st.sampled_from([ASKS_AT - 1, ASKS_AT, ASKS_AT + 1, MAXIMUM, MAXIMUM + 1, 1_234_500]))
SOME = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the maximum ----------------------------------------------------------------------------------------------

@SOME
@given(family=st.sampled_from(FAMILIES), amount=st.integers(MAXIMUM + 1, 999_999_999_999), confirmed=st.booleans())
def test_above_the_maximum_every_payment_is_refused_before_anything_is_sent(family, amount, confirmed):
    with fresh_world() as world:
        with pytest.raises(EngineError) as refused:
            pay(world, family, amount, confirm_unusual=confirmed, confirm_duplicate=confirmed)
        assert refused.value.code == "usage"
        message = str(refused.value)
        assert "\n" not in message and "CNY 50,000.00" in message and "[guards] max_amount" in message
        assert "supervisor" in message
        assert world.exchanges == [] and on_the_bank(world) == 0
        assert world.journal.find(limit=10) == []  # not even journaled: nothing was begun


@pytest.mark.parametrize("family", FAMILIES)
def test_the_maximum_itself_is_allowed(world_factory, family):
    world = world_factory()
    outcome = pay(world, family, MAXIMUM, confirm_unusual=True)
    assert outcome.status == "approved", outcome.message


def test_a_lower_maximum_is_the_terminals_own(world_factory):
    world = world_factory()
    shop = replace(PROFILE, max_amount=100_000)
    with pytest.raises(EngineError, match=r"maximum of CNY 1,000\.00"):
        pay(world, "wallet_sale", 100_001, shop, confirm_unusual=True)
    assert pay(world, "wallet_sale", 100_000, shop, confirm_unusual=True).status == "approved"


# -- the unusually large amount --------------------------------------------------------------------------------

@SOME
@given(family=st.sampled_from(FAMILIES), amount=AMOUNTS.filter(lambda a: a <= MAXIMUM))
def test_a_new_terminal_asks_exactly_from_the_multiple_of_the_configured_typical_amount(family, amount):
    with fresh_world() as world:
        outcome = pay(world, family, amount)
        if amount >= ASKS_AT:
            assert outcome.status == "needs_confirmation" and outcome.operation == family
            assert outcome.details["guard"] == "unusual_amount" and outcome.details["typical"] == TYPICAL
            assert world.exchanges == [] and on_the_bank(world) == 0  # asked before the card or code is used
            confirmed = pay(world, family, amount, confirm_unusual=True)
            assert confirmed.status == "approved", confirmed.message
        else:
            assert outcome.status == "approved", outcome.message
        assert on_the_bank(world) == 1


@SOME
@given(amount=st.integers(ASKS_AT, MAXIMUM))
def test_the_question_names_the_amount_in_full_and_the_forgotten_point_when_it_is_plausible(amount):
    question = _question(amount)
    units = amount // 100
    assert f"CNY {units:,}.{amount % 100:02d}" in question.message
    meant = question.details.get("meant")
    whole = amount % 100 == 0
    plausible = whole and TYPICAL / PROFILE.unusual_amount_multiple <= units < ASKS_AT
    assert (meant is not None) == plausible
    if plausible:
        assert meant == units and f"Did you mean {units // 100}.{units % 100:02d}?" in question.message
        assert not guards.is_unusual(PROFILE, meant, TYPICAL)  # what it suggests would not ask again
    else:
        assert "Did you mean" not in question.message


def _question(amount: int, profile: Profile = PROFILE):
    with fresh_world() as world:
        outcome = pay(world, "sale", amount, profile)
    assert outcome.status == "needs_confirmation"
    return outcome


def test_12345_keyed_for_123_45_is_asked_in_english_and_chinese(world_factory):
    english = _question(1_234_500)
    assert english.message == ("CNY 12,345.00 is unusually large for this terminal (typical sale CNY 500.00). "
                               "Did you mean 123.45? Check the amount; confirm to go on.")
    chinese = _question(1_234_500, replace(PROFILE, language="zh"))
    assert "CNY 12,345.00" in chinese.message and "是否应为 123.45" in chinese.message
    world = world_factory()
    with pytest.raises(EngineError) as refused:
        pay(world, "sale", 12_345_600, replace(PROFILE, language="zh"))
    assert "CNY 123,456.00" in str(refused.value) and "上限" in str(refused.value)
    assert "是否应为 1234.56" in str(refused.value) and "[guards] max_amount" in str(refused.value)


@pytest.mark.parametrize("family", FAMILIES)
def test_after_five_approved_sales_their_median_is_the_typical_ticket(world_factory, family):
    world = world_factory()
    for n in range(4):
        assert pay(world, "sale", 1000 + n, confirm_duplicate=True).status == "approved"
    assert pay(world, family, 20_000, confirm_duplicate=True).status == "approved"  # 4 sales: still 500.00
    if family != "sale":
        assert pay(world, "sale", 1004, confirm_duplicate=True).status == "approved"
    asked = pay(world, family, 20_001, confirm_duplicate=True)  # the median is now 10.02 or so
    assert asked.status == "needs_confirmation" and asked.details["typical"] < 2000


def test_a_payment_code_sale_is_asked_before_the_code_is_scanned(world_factory):
    world = world_factory()
    world.scans = [world.code("alice")]
    asked = world.run(w.wallet_sale(PROFILE, SETTINGS, w.WalletSaleRequest(1_234_500), CASHIER))
    assert asked.status == "needs_confirmation" and len(world.scans) == 1 and world.exchanges == []
    paid = world.run(w.wallet_sale(PROFILE, SETTINGS, w.WalletSaleRequest(1_234_500, confirm_unusual=True), CASHIER))
    assert paid.status == "approved" and world.scans == [] and world.payer_net("alice") == 1_234_500


def test_a_code_that_is_not_one_is_refused_before_the_question(world_factory):
    world = world_factory()
    with pytest.raises(EngineError) as refused:
        world.run(w.wallet_sale(PROFILE, SETTINGS, w.WalletSaleRequest(1_234_500, "6901234567892"), CASHIER))
    assert refused.value.code == "bad_code" and world.exchanges == []


def test_a_fixs_sale_is_never_stopped_halfway_by_the_guards(world_factory):
    world = world_factory()
    sold = pay(world, "sale", 1000)
    fixed = world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(MAXIMUM + 1, test_card="debit", kind="correction",
                                                        original_id=sold.txn.id, confirm_unusual=True,
                                                        confirm_duplicate=True), SUPERVISOR))
    assert fixed.status == "approved"


# -- configuration and registry ------------------------------------------------------------------------------

def test_the_settings_are_amounts_in_the_major_unit_checked_against_the_currency():
    defaults = config.from_mapping({})
    assert Profile.from_config(defaults).max_amount == 5_000_000
    assert Profile.from_config(defaults).typical_amount == 50_000
    shop = config.from_mapping({"guards": {"max_amount": "2000.50", "typical_amount": "80"}})
    assert (Profile.from_config(shop).max_amount, Profile.from_config(shop).typical_amount) == (200_050, 8000)
    yen = config.from_mapping({"terminal": {"currency_exponent": 0}})  # the defaults fit any currency
    assert Profile.from_config(yen).max_amount == 50_000
    for value, why in (("0", "more than zero"), ("-5", "not a number"), ("1,000.00", "not a number"),
                       ("99999999999.00", "too large"), (500, "expected a string")):
        with pytest.raises(ConfigError, match=rf"^guards\.max_amount: .*{why}") as bad:
            config.from_mapping({"guards": {"max_amount": value}})
        assert "\n" not in str(bad.value)
    with pytest.raises(ConfigError, match=r"^guards\.typical_amount: .*no decimals in this currency"):
        config.from_mapping({"terminal": {"currency_exponent": 0}, "guards": {"typical_amount": "10.50"}})


def test_every_new_payment_raises_the_unusual_amount_guard_and_takes_its_confirmation():
    for name in FAMILIES:
        row = registry.get(name)
        assert "unusual_amount" in row.guards and "confirm_unusual" in row.args, name
    assert registry.confirm_flag("unusual_amount") == "--confirm-unusual"


@pytest.fixture
def world_factory(tmp_path):
    made = []

    def make() -> WalletWorld:
        world = WalletWorld(tmp_path / str(len(made)))
        made.append(world)
        return world
    for n in range(8):
        (tmp_path / str(n)).mkdir()
    yield make
    for world in made:
        world.close()


# -- end to end: the CLI, the daemon, `posim host` -------------------------------------------------------------

@pytest.fixture
def agent(tmp_path, sim_host):
    from tests.agentproc import Agent, write_config
    from tests.test_wallet_daemon import WALLET
    running = Agent(write_config(tmp_path, sim_host.port, extra=WALLET), tmp_path)
    running.start()
    yield running
    running.stop()


def _moved(sim_host) -> int:
    """Every request the bank has recorded for this terminal, of any kind and outcome."""
    return sum(n for kind in sim_host.ledger()["counts"].values() for n in kind.values())


def test_a_payment_code_sale_of_12345_on_a_new_terminal_asks_then_goes_through_when_confirmed(agent, sim_host):
    from tests.test_wallet_daemon import issue, net
    code = issue(sim_host, "alice")
    asked = agent.cli("sale", "12345.00", "--code", code)
    assert asked.returncode == 4, (asked.stdout, asked.stderr)
    assert "CNY 12,345.00 is unusually large" in asked.stdout and "Did you mean 123.45?" in asked.stdout
    assert "--confirm-unusual" in asked.stderr
    assert net(sim_host, "alice") == 0 and _moved(sim_host) == 0
    paid = agent.cli("sale", "12345.00", "--code", code, "--confirm-unusual")
    assert paid.returncode == 0, (paid.stdout, paid.stderr)
    assert net(sim_host, "alice") == 1_234_500


def test_above_the_maximum_every_family_is_refused_in_one_line_and_the_bank_sees_nothing(agent, sim_host):
    from tests.test_wallet_daemon import issue
    for args, password in ((("sale", "50000.01", "--code", issue(sim_host, "bob")), False),
                           (("sale", "50000.01", "--card", "debit", "--confirm-unusual"), False),
                           (("preauth", "60000.00", "--card", "debit", "--confirm-unusual"), True)):
        refused = agent.cli(*args, password=password)
        assert refused.returncode == 2, (args, refused.stdout, refused.stderr)  # the operator's input: usage
        line = refused.stderr.strip()
        assert "\n" not in line and "Traceback" not in line and refused.stdout == ""
        assert "maximum of CNY 50,000.00" in line and "[guards] max_amount" in line
    asked = agent.cli("sale", "23456.00", "--code", issue(sim_host, "bob"))  # under it: the question
    assert asked.returncode == 4 and "--confirm-unusual" in asked.stderr
    assert _moved(sim_host) == 0


def test_a_terminal_with_a_lower_maximum_refuses_a_payment_code_sale_above_it(tmp_path, sim_host):
    from tests.agentproc import Agent, write_config
    from tests.test_wallet_daemon import WALLET, issue, net
    shop = Agent(write_config(tmp_path, sim_host.port, extra=WALLET + '\n[guards]\nmax_amount = "10000.00"\n'),
                 tmp_path)
    shop.start()
    try:
        refused = shop.cli("sale", "12345.00", "--code", issue(sim_host, "carol"), "--confirm-unusual")
        assert refused.returncode == 2 and "maximum of CNY 10,000.00" in refused.stderr
        assert "Did you mean 123.45?" in refused.stderr
        assert net(sim_host, "carol") == 0 and _moved(sim_host) == 0
    finally:
        shop.stop()


def test_sale_help_offers_the_confirmation_for_cards_and_codes_alike():
    import subprocess
    import sys
    from tests.agentproc import ROOT
    shown = subprocess.run([sys.executable, "-m", "agent", "sale", "--help"], cwd=ROOT, capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0 and "--confirm-unusual" in shown.stdout and "--code" in shown.stdout
