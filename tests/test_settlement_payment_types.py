"""Settlement totals per payment type: card and payment code (扫码) apart — sales, refunds and net — on the
confirm question, the settled message, the settlement slip, `posagent status` and `posagent journal
totals`, while field 48 still carries their sum and the bank still answers "balanced".  Random days of
card and wallet sales, refunds, voids and cancelled orders through the real engine, journal and host."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from agent.engine import purchases as ops, settlement
from agent.engine.card import sale as card_sale
from agent.engine.effects import EngineError
from agent.journal.paytotals import PaymentTotals, side
from agent.engine.receipts import render_settlement_report
from agent.journal.records import Totals
from tests.agentproc import Agent, write_config
from tests.enginekit import PROFILE, SUPERVISOR
from tests.test_wallet_daemon import WALLET, issue
from tests.walletkit import WalletWorld

SETTLE = settlement.SettleRequest(confirm=True)
ASK = settlement.SettleRequest(confirm=False)

steps = st.lists(st.one_of(
    st.tuples(st.just("card"), st.sampled_from(["debit", "credit"]), st.integers(100, 50_000)),
    st.tuples(st.just("wallet"), st.sampled_from(["alice", "dave", "erin"]), st.integers(100, 50_000)),
    st.tuples(st.just("refund"), st.integers(0, 9), st.integers(1, 100)),
    st.tuples(st.just("void"), st.integers(0, 9), st.just(0))), min_size=1, max_size=12)


def host_net(world, wallet: bool) -> int:
    """The bank's net charge of one payment type (wallet payers or cards) on this terminal."""
    cards = world.ledger.net_report(PROFILE.terminal_id)["cards"]
    return sum(c["net_charged"] for name, c in cards.items() if name.startswith("wallet:") == wallet)


def run_day(world, plan) -> list:
    sales = []
    for what, a, b in plan:
        try:
            if what == "card":
                outcome = world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(b, test_card=a, confirm_duplicate=True,
                                                                     confirm_unusual=True), SUPERVISOR))
            elif what == "wallet":
                outcome = world.pay(b, world.code(a), confirm_duplicate=True)
            elif sales and what == "refund":
                sale = sales[a % len(sales)]
                outcome = world.run(ops.refund(PROFILE, ops.RefundRequest(trace=sale.trace, amount=max(
                    1, sale.amount * b // 100), confirm_repeat=True), SUPERVISOR))
            elif sales:
                outcome = world.run(ops.void(PROFILE, ops.VoidRequest(sales[a % len(sales)].trace), SUPERVISOR))
            else:
                continue
        except EngineError:  # refused (nothing left to refund, already voided): nothing moved
            continue
        if outcome.status == "approved" and outcome.txn.kind == "sale":
            sales.append(outcome.txn)
    return sales


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_card_and_payment_code_totals_add_up_to_field_48_and_each_matches_the_bank(plan):
    with tempfile.TemporaryDirectory(prefix="paytotals-") as tmp:
        world = WalletWorld(Path(tmp))
        try:
            run_day(world, plan)
            asked = world.run(settlement.settle(PROFILE, ASK, SUPERVISOR))
            by_payment = asked.details["by_payment"]
            combined = asked.details["totals"]
            for field, key in (("debit_count", "sales_count"), ("debit_amount", "sales_amount"),
                               ("credit_count", "refunds_count"), ("credit_amount", "refunds_amount")):
                assert combined[field] == by_payment["card"][key] + by_payment["wallet"][key]
            for name, wallet in (("card", False), ("wallet", True)):  # each side = the bank's, per payer kind
                assert by_payment[name]["net_amount"] == host_net(world, wallet), (name, by_payment)
            host = world.ledger.batch_totals(PROFILE.terminal_id, "000001")
            assert (combined["debit_amount"], combined["debit_count"], combined["credit_amount"],
                    combined["credit_count"]) == (host.debit_amount, host.debit_count, host.credit_amount,
                                                  host.credit_count)
            if by_payment["wallet"]["sales_count"] or by_payment["wallet"]["refunds_count"]:
                assert "payment code:" in asked.message
            done = world.run(settlement.settle(PROFILE, SETTLE, SUPERVISOR))
            assert done.status == "done" and done.details["result"] == "balanced", done.message  # field 48 = bank
            assert done.details["by_payment"] == by_payment
        finally:
            world.close()


def test_a_refund_counts_where_its_sale_counts_and_cancelled_orders_count_nowhere(tmp_path):
    world = WalletWorld(tmp_path)
    try:
        card = world.run(card_sale.sale(PROFILE, card_sale.SaleRequest(5000, test_card="debit"), SUPERVISOR))
        paid = world.pay(3000, world.code("alice"))
        assert world.pay(7000, world.code("dave")).status == "reversed"  # never confirmed: cancelled
        world.run(ops.refund(PROFILE, ops.RefundRequest(trace=paid.txn.trace, amount=1000), SUPERVISOR))
        world.run(ops.refund(PROFILE, ops.RefundRequest(trace=card.txn.trace, amount=500), SUPERVISOR))
        totals = world.journal.payment_totals(1, wallet_entry_mode="032")
        assert side(totals.card) == {"sales_count": 1, "sales_amount": 5000, "refunds_count": 1,
                                     "refunds_amount": 500, "net_amount": 4500}
        assert side(totals.wallet) == {"sales_count": 1, "sales_amount": 3000, "refunds_count": 1,
                                       "refunds_amount": 1000, "net_amount": 2000}
        assert totals.combined() == world.journal.batch_totals(1)
        assert world.journal.payment_totals(1, wallet_entry_mode="099").wallet == Totals()  # the mode is data
        zh = world.run(settlement.settle(replace(PROFILE, language="zh"), ASK, SUPERVISOR))
        assert "银行卡：消费 1 笔共 50.00" in zh.message and "扫码：消费 1 笔共 30.00" in zh.message
    finally:
        world.close()


def test_the_settlement_slip_shows_each_payment_type_in_both_languages_and_widths():
    split = PaymentTotals(Totals(5000, 1, 500, 1), Totals(3000, 1, 1000, 1)).as_dict()
    for language, card, wallet in (("en", "BY CARD", "BY PAYMENT CODE"), ("zh", "银行卡", "扫码支付")):
        for width in (32, 42):
            slip = render_settlement_report(batch=1, totals=Totals(8000, 2, 1500, 2), result="balanced", uploaded=0,
                                            next_batch=2, settled_at=0.0, merchant_name="SHOP", terminal_id="1",
                                            merchant_id="2", width=width, language=language, by_payment=split)
            lines = slip.splitlines()
            assert card in lines and wallet in lines
            after = lines[lines.index(wallet):]
            assert any(line.endswith("20.00") for line in after[:7])  # its net: 30.00 - 10.00
    plain = render_settlement_report(batch=1, totals=Totals(), result="balanced", uploaded=0, next_batch=2,
                                     settled_at=0.0, merchant_name="S", terminal_id="1", merchant_id="2")
    assert "BY CARD" not in plain


def test_status_journal_totals_and_the_settlement_report_over_the_real_daemon_and_host(tmp_path, sim_host):
    agent = Agent(write_config(tmp_path, sim_host.port, extra=WALLET), tmp_path)
    agent.start()
    try:
        assert agent.json("sale", "50.00", "--card", "debit")["outcome"]["status"] == "approved"
        paid = agent.json("sale", "30.00", "--code", issue(sim_host, "alice"))["outcome"]
        assert paid["status"] == "approved"
        assert agent.json("refund", "--trace", str(paid["txn"]["trace"]), "10.00", password=True)["ok"]
        status = agent.cli("status")
        assert "card         sales 1 for 50.00, refunds 0 for 0.00, net 50.00" in status.stdout, status.stdout
        assert "payment code sales 1 for 30.00, refunds 1 for 10.00, net 20.00" in status.stdout
        totals = json.loads(agent.cli("journal", "totals", "--json").stdout)
        assert totals["by_payment"]["wallet"]["net_amount"] == 2000 and totals["debit_amount"] == 8000
        settled = agent.cli("settle", "--yes", password=True)
        assert settled.returncode == 0, settled.stderr
        assert "BY PAYMENT CODE" in settled.stdout and "BY CARD" in settled.stdout
        assert "(card: sales 1 for 50.00, refunds 0 for 0.00; payment code: sales 1 for 30.00, refunds 1 for 10.00)" \
            in " ".join(settled.stdout.split())
        assert "balanced" in settled.stdout
    finally:
        agent.stop()
