"""Wallet payment codes in the chaos campaign: a share of the sales paid by code (at once, confirmed on the
phone after a delay, never confirmed and cancelled) among the host faults and SIGKILLs; the checker holds
the bank's ledger per wallet payer against the journal, calls a wallet order left "paying" after recovery a
violation, and finds a customer's payment code written in full anywhere on the terminal."""

from __future__ import annotations

from dataclasses import replace

from simulator.chaos.checker import check
from simulator.chaos.plan import WALLET_FAULTS, WALLET_PAYERS, PlanSettings, make_plan
from simulator.chaos.report import violation_report
from simulator.chaos.runner import RunResult
from simulator.chaos.terminals import run_campaign
from simulator.host.ledger import Ledger


def test_wallet_payments_replace_some_sales_and_leave_every_other_step_of_a_seed_as_it_was():
    all_wallet_faults = 0
    for seed, ops, kills in ((11, 2000, 100), (2011, 220, 6), (20261124, 3000, 60)):
        before = make_plan(PlanSettings(seed=seed, ops=ops, kills=kills, wallet_share=0.0))
        after = make_plan(PlanSettings(seed=seed, ops=ops, kills=kills))
        assert len(before) == len(after)
        converted = wallet_faults = 0
        for old, new in zip(before, after):
            if new.op == "wallet_sale":
                assert old.op == "sale" and new.card in WALLET_PAYERS
                if new.fault in WALLET_FAULTS:  # the wallet's own fault in place of the sale's
                    wallet_faults += 1
                    new = replace(new, fault=old.fault)
                assert replace(new, op="sale", card=old.card) == old  # amount, fault, kill: the sale's
                converted += 1
            else:
                assert new == old
        sales = sum(1 for s in before if s.op == "sale")
        assert 0.05 * sales < converted < 0.15 * sales, (seed, converted, sales)
        assert wallet_faults < converted / 2, (seed, wallet_faults, converted)
        all_wallet_faults += wallet_faults
    assert all_wallet_faults > 0
    ci = make_plan(PlanSettings(seed=11, ops=2000, kills=100))
    assert {s.card for s in ci if s.op == "wallet_sale"} == set(WALLET_PAYERS)
    assert any(s.op == "wallet_sale" and s.kill == "in_flight" for s in ci)


def test_short_campaign_with_wallet_payments_and_kills_keeps_bank_and_journal_equal_per_payer(tmp_path):
    plan_settings = PlanSettings(seed=31, ops=160, kills=12, wallet_share=0.5)
    steps = make_plan(plan_settings)
    assert any(s.op == "wallet_sale" and s.kill for s in steps)
    result = run_campaign(steps, tmp_path, checkpoint_every=80)
    assert result.ok, violation_report(plan_settings, result, None)
    t = result.tally
    assert sum(t.kills.values()) == 12 and t.recoveries >= 12
    assert t.outcomes["wallet_sale approved"] > 0  # paid at once or confirmed on the phone
    assert t.outcomes["wallet_sale reversed"] > 0  # never confirmed: cancelled at the deadline
    bank = result.last_check.details["bank_net"]
    assert {"wallet:alice", "wallet:bob"} <= set(bank)  # checked per payer, beside the cards
    assert bank == result.last_check.details["journal_net"]
    assert "wallet:dave" not in bank  # the customer who never confirms is never charged


def _clean_wallet_run(directory) -> RunResult:
    plan_settings = PlanSettings(seed=5, ops=6, kills=0, fault_rate=0.0, wallet_share=1.0)
    steps = make_plan(plan_settings)
    assert any(s.op == "wallet_sale" for s in steps)
    result = run_campaign(steps, directory)
    assert result.ok, violation_report(plan_settings, result, None)
    return result


def test_checker_names_a_wallet_payer_the_bank_charged_behind_the_journals_back(tmp_path):
    _clean_wallet_run(tmp_path)
    ledger = Ledger(tmp_path / "host-ledger.db")
    try:
        ledger.record_txn(tid="10000001", mid="123456789012345", batch="000099", stan="999998", mti="0200",
                          kind="sale", card="wallet:alice", masked_pan="281234********1111", amount=555,
                          local_date="1123", response_code="00", icc=False, orig_id=None, now="2026-11-23T00:00:00")
    finally:
        ledger.close()
    found = check(tmp_path)
    (violation,) = [v for v in found.violations if "wallet:alice" in v.detail]
    assert violation.rule == "net_charge" and any("amount=555" in row for row in violation.ledger_rows)


def test_checker_calls_a_wallet_order_still_paying_after_recovery_unresolved(tmp_path):
    _clean_wallet_run(tmp_path)
    ledger = Ledger(tmp_path / "host-ledger.db")
    try:
        from simulator.host.wallet import WalletHost
        WalletHost(ledger)  # creates the wallet's tables in the ledger's file
        ledger.db.execute(
            "INSERT INTO wallet_orders (tid, batch, stan, payer, masked_code, amount, mid, local_date, confirm, "
            "state, created_at) VALUES ('10000001', '000099', '999997', 'dave', '281234********2222', 4200, "
            "'123456789012345', '1123', 'never', 'paying', '2026-11-23T00:00:00')")
    finally:
        ledger.close()
    found = check(tmp_path)
    (violation,) = found.violations
    assert violation.rule == "unresolved" and "still paying" in violation.detail
    assert "payer=dave" in violation.ledger_rows[0] and "amount=4200" in violation.ledger_rows[0]


def test_checker_finds_a_customers_payment_code_written_in_full(tmp_path):
    _clean_wallet_run(tmp_path)
    code = "281234567890123456"
    assert check(tmp_path, codes=[code]).ok
    with open(tmp_path / "agent.log", "a", encoding="utf-8") as log:
        log.write(f"careless line: scanned 00{code}\n")
    found = check(tmp_path, codes=["261234567890123456", code])
    (violation,) = found.violations
    assert violation.rule == "card_data" and "agent.log" in violation.detail and code not in violation.detail
