"""Statements that must be refused cleanly, and days that must be reconciled right, through the real CLI
(`posagent reconcile` over a running daemon, `posim host statement` over the host's ledger) on real files.

A refused statement is one line on stderr (the line, the column, what was expected, a short masked
excerpt of what was there), exit 2, and one `reconcile.refused` event whatever the file holds."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from tests.agentproc import start_agent
from tests.test_reconcile_cli import day_of_payments, posim, run_events, statement

FULL_PAN = "6226090000000048"


@pytest.fixture
def agent(tmp_path, sim_host):
    running = start_agent(tmp_path, sim_host.port)
    yield running
    running.stop()


def with_field(clean: Path, out: Path, column: int, value: str, row: int = 7) -> Path:
    """A copy of a posim CSV statement with one field of its first line replaced."""
    rows = clean.read_text(encoding="utf-8").split("\n")
    fields = rows[row].split(",")
    fields[column] = value
    rows[row] = ",".join(fields)
    out.write_text("\n".join(rows), encoding="utf-8")
    return out


def refused_in_one_line(done, *needles: str) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    err = done.stderr.strip()
    assert "Traceback" not in done.stderr and len(err.splitlines()) == 1, err[:2000]
    for needle in needles:
        assert needle in err, err[:2000]
    return err


@pytest.mark.parametrize("size", [60_000, 70_000, 200_000])
def test_a_huge_field_is_one_short_line_exit_2_and_journaled_through_the_daemon(agent, sim_host, tmp_path, size):
    day_of_payments(agent)
    clean = tmp_path / "clean.csv"
    statement(sim_host, clean)
    for column, name in ((7, "auth_code"), (11, "amount")):
        bad = with_field(clean, tmp_path / f"huge-{name}.csv", column, "A" * size)
        err = refused_in_one_line(agent.cli("reconcile", str(bad)), f"line 8, column {column + 1} ({name})",
                                  f"({size} characters)")
        assert len(err) < 300
    quoted = with_field(clean, tmp_path / "quoted.csv", 7, '"' + "B" * size + '"')
    refused_in_one_line(agent.cli("reconcile", str(quoted)), "line 8")
    assert run_events(tmp_path) == ["reconcile.refused"] * 3
    assert agent.cli("journal", "verify").returncode == 0


def test_a_full_card_number_is_refused_without_repeating_it(agent, sim_host, tmp_path):
    day_of_payments(agent)
    clean = tmp_path / "clean.csv"
    statement(sim_host, clean)
    bad = with_field(clean, tmp_path / "pan.csv", 8, FULL_PAN)
    err = refused_in_one_line(agent.cli("reconcile", str(bad)), "line 8, column 9 (card_no)", "622609******0048")
    assert FULL_PAN not in err
    # a card number hidden in a longer run of digits, or in a field of its own, is masked too
    for column, value in ((7, "99" + FULL_PAN + "12345"), (3, FULL_PAN)):
        err = refused_in_one_line(agent.cli("reconcile", str(with_field(clean, tmp_path / "x.csv", column, value))))
        assert FULL_PAN not in err and FULL_PAN[6:12] not in err
    assert run_events(tmp_path) == ["reconcile.refused"] * 3
    assert FULL_PAN.encode() not in (tmp_path / "journal.db").read_bytes()
    wal = tmp_path / "journal.db-wal"
    assert not wal.exists() or FULL_PAN.encode() not in wal.read_bytes()


def test_only_a_regular_file_of_bounded_size_is_read(agent, tmp_path):
    """A device, a pipe or a file over the stated maximum is refused before it is read: one line naming the
    file and the limit, exit 2 (reading /dev/zero used to end in a MemoryError).  The command line refuses it
    before copying anything to the daemon's statements directory, so the daemon read nothing and journals
    nothing (its own refusals of such files: tests/test_reconcile_evidence.py)."""
    from agent.reconcile.statement import MAX_STATEMENT_BYTES

    limit = f"at most {MAX_STATEMENT_BYTES // (1 << 20)} MiB"
    refused_in_one_line(agent.cli("reconcile", "/dev/zero", timeout=30), "statement /dev/zero:",
                        "a character device, not a regular file", limit)
    fifo = tmp_path / "statement.fifo"
    os.mkfifo(fifo)
    refused_in_one_line(agent.cli("reconcile", str(fifo), timeout=30), str(fifo), "a pipe", limit)
    huge = tmp_path / "huge.csv"
    with open(huge, "wb") as f:  # sparse: no disk space used
        f.truncate(MAX_STATEMENT_BYTES + 1)
    refused_in_one_line(agent.cli("reconcile", str(huge), timeout=30), str(huge),
                        f"{MAX_STATEMENT_BYTES + 1} bytes", limit)
    assert run_events(tmp_path) == []
    assert not (tmp_path / "statements").exists() or list((tmp_path / "statements").iterdir()) == []
    assert agent.cli("journal", "verify").returncode == 0


def issue_code(sim_host, payer: str) -> str:
    done = posim("wallet", "issue", payer, "--db", str(sim_host.db), "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["code"]


def test_a_day_with_a_long_payment_code_is_written_and_balanced_in_both_formats(agent, sim_host, tmp_path):
    """An Alipay code has up to 24 digits (the simulator's payer alice gets 20): masked first 6 / last 4 it
    has more stars than a card number, and the bank's statement must still be written and read."""
    code = issue_code(sim_host, "alice")
    assert len(code) >= 20
    paid = agent.json("sale", "88.80", "--code", code)
    assert paid["ok"] and paid["outcome"]["status"] == "approved", paid
    assert agent.json("sale", "12.34", "--card", "debit")["outcome"]["status"] == "approved"
    assert agent.cli("settle", "--yes", password=True).returncode == 0
    masked = code[:6] + "*" * (len(code) - 10) + code[-4:]
    for name, extra in (("day.csv", ()), ("day.txt", ("--format", "unionpay-gbk"))):
        today = dt.date.today().strftime("%Y%m%d")
        done = posim("host", "statement", "--db", str(sim_host.db), "--date", today, "--out", str(tmp_path / name),
                     *extra)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        assert json.loads(done.stdout)["lines"] == 2
        raw = (tmp_path / name).read_bytes()
        assert masked.encode() in raw and code.encode() not in raw
        report = agent.json("reconcile", str(tmp_path / name), *extra)
        assert report["balanced"] and report["credited"] == report["owed"], report
    assert run_events(tmp_path) == ["reconcile.run"] * 2


def test_another_terminals_line_is_listed_apart_and_never_enters_the_claim(agent, sim_host, tmp_path):
    """The bank left out a sale (it kept that sale's net) and deducted another terminal's refund: the claim
    is the sale's net, to refund; the other terminal's line has a section of its own."""
    day_of_payments(agent)
    clean = statement(sim_host, tmp_path / "clean.csv")
    sim_host.fault("statement_sale_missing:seed=3")
    sim_host.fault("statement_foreign_line:seed=4")
    faulty = statement(sim_host, tmp_path / "faulty.csv")
    missing = next(a for a in faulty["faults_applied"] if a["finding"] == "not_credited")
    foreign = next(a for a in faulty["faults_applied"] if a["finding"] == "other_terminal")
    kept = -missing["effect"]
    assert kept > 0 and foreign["effect"] == 0 and clean["credit"] - faulty["credit"] != kept

    claims = tmp_path / "claims"
    done = agent.cli("reconcile", str(tmp_path / "faulty.csv"), "--claim", str(claims))
    assert done.returncode == 1, done.stdout + done.stderr
    money = f"{kept // 100}.{kept % 100:02d}"
    assert f"claim: the acquirer kept {money}" in done.stdout and "paid in excess" not in done.stdout
    assert "lines of other terminals" in done.stdout and foreign["rrn"] in done.stdout

    day = dt.date.today().strftime("%Y%m%d")
    claim = json.loads((claims / f"claim-{day}.json").read_text())
    assert claim["claim_total"] == kept and claim["unexplained"] == 0
    assert [d["kind"] for d in claim["discrepancies"]] == ["not_credited"]
    assert [(x["terminal_id"], x["rrn"]) for x in claim["other_terminals"]["lines"]] == [("99999901", foreign["rrn"])]
    assert claim["credited"] + claim["other_terminals"]["net"] == claim["statement_credit"] == faulty["credit"]
    letter = (claims / f"claim-{day}-en.txt").read_text()
    assert f"TOTAL TO REFUND" in letter and money in letter and "PAID IN EXCESS" not in letter
    others = letter.index("OTHER TERMINALS' LINES")
    assert letter.index("TOTAL TO REFUND") < others and foreign["rrn"] in letter[others:]
    assert foreign["rrn"] in (claims / f"claim-{day}-zh.txt").read_text().split("其他终端的交易")[1]

    # a day whose only difference is another terminal's line is balanced for this terminal
    sim_host.control(op="clear")
    sim_host.fault("statement_foreign_line:seed=4")
    statement(sim_host, tmp_path / "foreign-only.csv")
    report = agent.json("reconcile", str(tmp_path / "foreign-only.csv"))
    assert report["balanced"] and report["claim_total"] == 0 and report["discrepancies"] == []
    assert len(report["other_terminals"]["lines"]) == 1
