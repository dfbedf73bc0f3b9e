"""S2, the merchant's side, end to end: the daemon takes a day of payments over real TCP from
`posim host`, the host writes its statement (`posim host statement`), and `posagent reconcile` names
every difference to the cent, journals its run through the daemon, and writes the claim."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.agentproc import ROOT, start_agent


@pytest.fixture
def agent(tmp_path, sim_host):
    running = start_agent(tmp_path, sim_host.port)
    yield running
    running.stop()


def posim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "simulator.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def statement(sim_host, out: Path, *extra: str) -> dict:
    today = dt.date.today().strftime("%Y%m%d")
    done = posim("host", "statement", "--db", str(sim_host.db), "--date", today, "--out", str(out), *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def run_events(directory: Path) -> list[str]:
    """The reconciliation events in the journal file, read as a bank's auditor would (read-only)."""
    import sqlite3
    conn = sqlite3.connect(f"{(directory / 'journal.db').resolve().as_uri()}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT kind FROM events WHERE kind LIKE 'reconcile.%' ORDER BY id")]
    finally:
        conn.close()


def day_of_payments(agent) -> None:
    for amount, card in (("123.45", "debit"), ("5000.00", "credit"), ("77.77", "debit"), ("9999.99", "debit"),
                         ("12.00", "credit")):
        # a day of large and small sales: the unusual-amount guard is confirmed, as the cashier would
        reply = agent.json("sale", amount, "--card", card, "--confirm-unusual")
        assert reply["ok"] and reply["outcome"]["status"] == "approved", reply
    third = agent.json("journal", "list", "--amount", "77.77")[0]
    assert agent.json("void", str(third["trace"]), password=True)["outcome"]["status"] == "approved"
    second = agent.json("journal", "list", "--amount", "5000.00")[0]
    refund = agent.json("refund", "100.00", "--trace", str(second["trace"]), password=True)
    assert refund["outcome"]["status"] == "approved", refund
    assert agent.cli("settle", "--yes", password=True).returncode == 0


def test_a_clean_day_is_balanced_to_the_cent_and_the_run_is_journaled_through_the_daemon(agent, sim_host, tmp_path):
    day_of_payments(agent)
    summary = statement(sim_host, tmp_path / "clean.csv")
    assert summary["lines"] == 7 and summary["faults_applied"] == []
    done = agent.cli("reconcile", str(tmp_path / "clean.csv"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "balanced to the cent" in done.stdout and "journaled as event #" in done.stdout
    gbk = statement(sim_host, tmp_path / "clean.txt", "--format", "unionpay-gbk")
    assert gbk["encoding"] == "gbk"
    report = agent.json("reconcile", str(tmp_path / "clean.txt"), "--format", "unionpay-gbk")
    assert report["balanced"] and report["credited"] == report["owed"] == summary["credit"]
    assert report["journal_event"]["event_id"] > 0
    assert run_events(tmp_path) == ["reconcile.run", "reconcile.run"]
    assert agent.cli("journal", "verify").returncode == 0


def test_a_day_with_several_faults_names_each_and_claims_what_the_bank_kept(agent, sim_host, tmp_path):
    sim_host.fault("drop_after:count=1,mti=0200")  # the host takes this sale, the answer never comes: reversed
    lost = agent.json("sale", "66.00", "--card", "debit")
    assert lost["outcome"]["status"] != "approved", lost
    day_of_payments(agent)
    clean = statement(sim_host, tmp_path / "clean.csv")
    for rule in ("statement_fee_above_rate:seed=1", "statement_deducted_twice:seed=2", "statement_sale_missing:seed=3",
                 "statement_foreign_line:seed=4", "statement_total_mismatch:seed=5", "statement_reversed_settled"):
        sim_host.fault(rule)
    listed = sim_host.control(op="list")["faults"]
    assert len([f for f in listed if f["rule"].startswith("statement_")]) == 6
    faulty = statement(sim_host, tmp_path / "faulty.csv", "--encoding", "gbk")
    assert len(faulty["faults_applied"]) == 6
    foreign = next(a for a in faulty["faults_applied"] if a["finding"] == "other_terminal")
    foreign_net = next(int(x.split(",")[-1].replace(".", "")) for x in
                       (tmp_path / "faulty.csv").read_bytes().decode("gbk").splitlines() if foreign["rrn"] in x)
    kept = clean["credit"] - faulty["credit"] + foreign_net  # another terminal's line is not this terminal's claim

    claims = tmp_path / "claims"
    done = agent.cli("reconcile", str(tmp_path / "faulty.csv"), "--encoding", "gbk", "--claim", str(claims))
    assert done.returncode == 1, done.stdout + done.stderr
    for name in ("fee differs from the contracted rate", "counted twice", "in the journal, not credited",
                 "not this terminal's transaction", "statement total differs from its own lines",
                 "reversed or never approved, but settled"):
        assert name in done.stdout
    label = "claim: the acquirer kept" if kept >= 0 else "the acquirer paid in excess"
    assert f"{label} {abs(kept) // 100}.{abs(kept) % 100:02d}" in done.stdout

    day = dt.date.today().strftime("%Y%m%d")
    claim = json.loads((claims / f"claim-{day}.json").read_text())
    assert claim["claim_total"] == kept and claim["unexplained"] == 0
    assert sorted(d["kind"] for d in claim["discrepancies"]) == sorted(
        a["finding"] for a in faulty["faults_applied"] if a is not foreign)
    assert [x["rrn"] for x in claim["other_terminals"]["lines"]] == [foreign["rrn"]]
    assert claim["other_terminals"]["net"] == foreign_net
    assert claim["journal_event"]["event_id"] > 0
    letter_zh = (claims / f"claim-{day}-zh.txt").read_text()
    letter_en = (claims / f"claim-{day}-en.txt").read_text()
    assert ("申请退款合计" if kept >= 0 else "多付合计") in letter_zh
    assert ("TOTAL TO REFUND" if kept >= 0 else "TOTAL PAID IN EXCESS") in letter_en
    assert f"{abs(kept) // 100}.{abs(kept) % 100:02d}" in letter_en
    from agent.engine.receipts import display_width
    printer = (claims / f"claim-{day}-zh-printer.txt").read_text().splitlines()
    assert max(display_width(x) for x in printer) <= 32
    # each item that names a journal transaction carries its purchase with the hash-chain proof
    from agent.journal import verify_bundle
    items = [json.loads(p.read_text()) for p in sorted((claims / "evidence").glob("item-*.json"))]
    assert len(items) == len(claim["discrepancies"])
    purchases = [i["journal_purchase"] for i in items if i["journal_purchase"]]
    assert purchases and all(verify_bundle(c) is None for c in purchases)
    lines = [i["statement_line"] for i in items if i["statement_line"]]
    assert lines and all(x["text"] in (tmp_path / "faulty.csv").read_bytes().decode("gbk") for x in lines)

    sim_host.control(op="clear")
    assert statement(sim_host, tmp_path / "again.csv")["faults_applied"] == []


def test_a_malformed_statement_is_refused_with_its_place_and_only_the_refusal_is_journaled(agent, sim_host, tmp_path):
    day_of_payments(agent)
    statement(sim_host, tmp_path / "clean.csv")
    text = (tmp_path / "clean.csv").read_text(encoding="utf-8").splitlines()
    (tmp_path / "truncated.csv").write_text("\n".join(text[:9]) + "\n", encoding="utf-8")
    before = agent.json("journal", "list", "--limit", "500")
    done = agent.cli("reconcile", str(tmp_path / "truncated.csv"))
    assert done.returncode == 2 and "line 10, column 1: expected the totals line" in done.stderr and "truncated?" in done.stderr
    assert "Traceback" not in done.stderr
    wrong_day = agent.cli("reconcile", str(tmp_path / "clean.csv"), "--date", "2001-01-01")
    assert wrong_day.returncode == 2 and "expected the statement of 20010101" in wrong_day.stderr
    assert agent.json("journal", "list", "--limit", "500") == before
    assert run_events(tmp_path) == ["reconcile.refused", "reconcile.refused"]
    assert agent.cli("journal", "verify").returncode == 0
    missing = agent.cli("reconcile", str(tmp_path / "nothing.csv"))
    assert missing.returncode == 2 and "no statement file" in missing.stderr


def test_without_a_daemon_the_run_is_journaled_directly(agent, sim_host, tmp_path):
    day_of_payments(agent)
    statement(sim_host, tmp_path / "clean.csv")
    agent.stop()
    report = agent.json("reconcile", str(tmp_path / "clean.csv"))
    assert report["balanced"] and report["journal_event"]["event_id"] > 0
    assert agent.cli("journal", "verify").returncode == 0


def test_a_day_with_preauths_completions_and_a_completion_void_is_balanced_through_the_real_host(agent, sim_host,
                                                                                                  tmp_path):
    for amount in ("2000.00", "300.00", "450.00"):
        held = agent.json("preauth", amount, "--card", "debit", password=True)
        assert held["ok"] and held["outcome"]["status"] == "approved", held
    traces = {a: agent.json("journal", "list", "--amount", a)[0]["trace"] for a in ("2000.00", "300.00", "450.00")}
    done = agent.json("preauth", "complete", str(traces["2000.00"]), "1850.00", password=True)
    assert done["ok"] and done["outcome"]["status"] == "approved", done
    done = agent.json("preauth", "complete", str(traces["300.00"]), "300.00", password=True)
    assert done["ok"] and done["outcome"]["status"] == "approved", done
    completion = agent.json("journal", "list", "--amount", "300.00")
    completion = next(x for x in completion if x["trace"] != traces["300.00"])
    voided = agent.json("preauth", "void-completion", str(completion["trace"]), password=True)
    assert voided["ok"] and voided["outcome"]["status"] == "approved", voided
    assert agent.json("preauth", "release", str(traces["450.00"]), password=True)["ok"]
    assert agent.json("sale", "10.00", "--card", "credit")["ok"]
    assert agent.cli("settle", "--yes", password=True).returncode == 0
    summary = statement(sim_host, tmp_path / "holds.csv")
    text = (tmp_path / "holds.csv").read_text()
    assert summary["lines"] == 4 and text.count(",completion,") == 2 and text.count(",completion_void,") == 1
    done = agent.cli("reconcile", str(tmp_path / "holds.csv"))
    assert done.returncode == 0 and "balanced to the cent" in done.stdout, done.stdout + done.stderr
    statement(sim_host, tmp_path / "holds.txt", "--format", "unionpay-gbk")
    assert "预授权完成撤销".encode("gbk") in (tmp_path / "holds.txt").read_bytes()
    report = agent.json("reconcile", str(tmp_path / "holds.txt"), "--format", "unionpay-gbk")
    assert report["balanced"] and report["credited"] == report["owed"] == summary["credit"]
