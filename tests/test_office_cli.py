"""`posoffice` as a person and a script use it, on a real PostgreSQL: registering terminals, listing them,
re-walking the stored chains (and finding what was changed inside PostgreSQL), a day's totals, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg
import pytest

from posoffice.cli import main
from tests.pgcluster import ROOT, Collector, batch, office_dsn, pg_cluster, post, synthetic_chain  # noqa: F401


def posoffice(*args: str, dsn: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "posoffice", *args, *(["--dsn", dsn] if dsn else [])]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})


def add(dsn: str, terminal: str, merchant: str = "M1") -> str:
    result = posoffice("terminal", "add", terminal, "--merchant", merchant, dsn=dsn)
    assert result.returncode == 0, result.stderr
    secret, = [line.split(": ", 1)[1] for line in result.stdout.splitlines() if line.startswith("secret: ")]
    return secret


@pytest.fixture(scope="module")
def office(pg_cluster):
    """Two terminals with 40 and 10 events shipped through a real collector (every test only reads)."""
    dsn = pg_cluster.new_database()
    secrets = {"T1": add(dsn, "T1"), "T2": add(dsn, "T2", "M2")}
    collector = Collector(dsn)
    try:
        chain = synthetic_chain(40)
        assert post(collector.url, "T1", secrets["T1"], batch("T1", chain, head=45))[0] == 200
        assert post(collector.url, "T2", secrets["T2"], batch("T2", synthetic_chain(10, salt="t2")))[0] == 200
    finally:
        collector.stop()
    return dsn


def test_terminal_add_prints_the_secret_once_and_stores_only_its_hash(office_dsn):
    secret = add(office_dsn, "T7", "M9")
    with psycopg.connect(office_dsn) as conn:
        stored, = conn.execute("SELECT credential_hash FROM terminals WHERE id = 'T7'").fetchone()
    assert stored.startswith("scrypt$") and secret not in stored
    again = posoffice("terminal", "add", "T7", "--merchant", "M9", dsn=office_dsn)
    assert again.returncode == 2 and again.stderr == "posoffice: terminal T7 is already registered\n"


def test_terminals_lists_last_seq_backlog_and_chain_state(office):
    listed = json.loads(posoffice("terminals", "--json", dsn=office).stdout)
    assert [(t["terminal"], t["merchant"], t["last_seq"], t["backlog"], t["chain"]) for t in listed] == [
        ("T1", "M1", 40, 5, "ok"), ("T2", "M2", 10, None, "ok")]
    assert all(t["last_contact"] for t in listed)
    table = posoffice("terminals", dsn=office).stdout.splitlines()
    assert table[0].split() == ["TERMINAL", "MERCHANT", "LAST", "SEQ", "LAST", "CONTACT", "BACKLOG", "CHAIN"]
    assert table[2].split()[-2:] == ["unknown", "ok"]


def test_verify_passes_on_intact_chains(office):
    result = posoffice("verify", dsn=office)
    assert result.returncode == 0 and result.stdout.startswith("ok: 50 events of 2 terminal(s)")


@pytest.mark.parametrize("change, why", [
    ("UPDATE events SET details_text = replace(details_text, '\"amount\":1500', '\"amount\":15') "
     "WHERE terminal = 'T1' AND seq = 29", "the event was changed"),
    ("UPDATE events SET details = jsonb_set(details, '{amount}', '15') WHERE terminal = 'T1' AND seq = 29",
     "the details column differs"),
    ("UPDATE events SET operator = '99' WHERE terminal = 'T1' AND seq = 29", "the event was changed"),
    ("DELETE FROM events WHERE terminal = 'T1' AND seq = 29", "events 29..29 are missing"),
    ("UPDATE events SET hash = repeat('a', 64) WHERE terminal = 'T1' AND seq = 29", "chain link is broken"),
])
def test_verify_finds_a_row_altered_in_postgresql_by_terminal_and_seq(pg_cluster, office, change, why, capsys):
    copy = copy_of(pg_cluster, office)
    with psycopg.connect(copy) as conn:
        conn.execute(change)
    assert main(["verify", "--json", "--dsn", copy]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["problems"][0]["terminal"] == "T1"
    assert report["problems"][0]["seq"] == 29 and why in report["problems"][0]["what"]
    assert main(["verify", "T2", "--dsn", copy]) == 0  # the other terminal's chain is intact
    capsys.readouterr()
    assert main(["verify", "--dsn", copy]) == 1
    assert capsys.readouterr().out.startswith("T1 event 29: ")


def copy_of(pg_cluster, dsn: str) -> str:
    """A new database copied from `dsn`'s (PostgreSQL's CREATE DATABASE ... TEMPLATE)."""
    copy = pg_cluster.new_database()
    name, source = copy.rsplit("dbname=", 1)[1], dsn.rsplit("dbname=", 1)[1]
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name}")
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {source}")
    return copy


def test_day_sums_approved_sales_per_terminal(office):
    # synthetic_chain: event 2n-1 begins sale n of 100 * n, event 2n approves it, at 1717000000 + seq
    result = posoffice("day", "2024-05-29", "--json", dsn=office)
    assert result.returncode == 0, result.stderr
    day = json.loads(result.stdout)
    assert day["day"] == "2024-05-29" and day["tz"] == "UTC"
    t1, t2 = day["terminals"]
    assert t1["sales"] == {"count": 20, "amount": 100 * sum(range(1, 21))} and t1["net"] == 21000
    assert t2["sales"]["count"] == 5 and t2["refunds"] == {"count": 0, "amount": 0}
    empty = json.loads(posoffice("day", "2024-05-30", "--json", dsn=office).stdout)
    assert [t["net"] for t in empty["terminals"]] == [0, 0]
    table = posoffice("day", "2024-05-29", dsn=office).stdout
    assert "20 / 210.00" in table


@pytest.mark.parametrize("args, message", [
    (("day", "2024-02-30"), "posoffice day: argument DATE: '2024-02-30' is not a date (YYYY-MM-DD)"),
    (("day", "2024-05-29", "--tz", "Mars/Olympus"), "posoffice: unknown time zone 'Mars/Olympus'"),
    (("verify", "T404"), "posoffice: no terminal T404 is registered"),
    (("terminal", "add", "bad id", "--merchant", "M1"), "posoffice: terminal id 'bad id': expected"),
    (("serve", "--port", "99999"), "posoffice serve: argument --port: '99999' is not a port number"),
])
def test_errors_are_one_line_and_exit_2(office, args, message):
    result = posoffice(*args, dsn=office)
    assert result.returncode == 2 and result.stderr.startswith(message) and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_an_unreachable_or_missing_database_is_one_line(tmp_path):
    missing = posoffice("terminals")
    assert missing.returncode == 2 and missing.stderr == "posoffice: no office database: give --dsn or set " \
                                                         "POSOFFICE_DSN\n"
    gone = posoffice("terminals", dsn=f"host={tmp_path} user=postgres dbname=office")
    assert gone.returncode == 2 and gone.stderr.startswith("posoffice: cannot reach the office database: ")
    assert gone.stderr.count("\n") == 1


def office_page_examples() -> list[str]:
    text = (ROOT / "docs" / "office.md").read_text(encoding="utf-8")
    block = text.split("```", 2)[1]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.startswith("posoffice ")]


@pytest.mark.parametrize("command", office_page_examples())
def test_every_office_page_example_parses(command):
    import re
    import shlex
    from posoffice.cli import build_parser
    for text in (re.sub(r"\s*\[[^\]]*\]", "", command), command.replace("[", "").replace("]", "")):
        try:
            build_parser().parse_args(shlex.split(text)[1:])
        except SystemExit as exc:
            pytest.fail(f"docs/office.md example does not parse: {text} (exit {exc.code})")
