"""The daemon's resident memory: what a running terminal keeps is bounded, whatever it has sold.

`python -m bench.engine` measures the resident size after 10,000 sales; these tests hold the causes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tracemalloc
from pathlib import Path

from agent.journal import Journal
from agent.journal.schema import CACHE_KIB

ROOT = Path(__file__).resolve().parent.parent
KEY = b"test-fingerprint-key-0123456789ab"


def test_the_journal_writer_keeps_a_bounded_page_cache_whatever_the_page_size(tmp_path):
    """SQLite's default cache (2,000 KiB) fills within a daemon's first thousand sales and stays; the
    writer's is CACHE_KIB, in KiB (a negative cache_size), so an older journal's 4 KiB pages get the same."""
    older = tmp_path / "older.db"
    conn = sqlite3.connect(older)
    conn.execute("PRAGMA page_size = 4096")
    conn.execute("VACUUM")
    conn.close()
    for path in (tmp_path / "new.db", older):
        journal = Journal.open(path, fingerprint_key=KEY)
        try:
            assert journal.core.conn.execute("PRAGMA cache_size").fetchone()[0] == -CACHE_KIB
        finally:
            journal.close()
    assert 0 < CACHE_KIB < 2000


def test_the_daemon_process_builds_only_the_run_command_and_loads_no_other_commands_modules():
    """`posagent run` keeps its own parser only: the other commands' parsers and the modules behind them
    (the journal's, the codec's, the console's and the reconciler's command lines, the printers) are never
    loaded in the process that runs for months."""
    probe = ("import sys\n"
             "from agent.cli import build_parser, command_word\n"
             "parser = build_parser(command_word(['--config', 'posagent.toml', 'run', '--test-cards', 'x']))\n"
             "commands = parser._subparsers._group_actions[0].choices\n"
             "print(sorted(commands))\n"
             "print(sorted(m for m in sys.modules if m.endswith('.cli') or m == 'agent.daemon.show'))\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    commands, modules = done.stdout.splitlines()
    assert commands == "['run']"
    assert modules == "['agent.cli', 'agent.daemon.cli']", modules


def test_every_other_command_line_still_gets_the_whole_parser():
    from agent.cli import build_parser, command_word

    assert command_word(["run"]) == command_word(["--config=x.toml", "run"]) == "run"
    assert command_word(["--config", "run", "run"]) == "run"  # a file named "run"
    for argv in (["-h", "run"], ["--help"], ["--version"], [], ["--config"], ["sale", "1.00"]):
        assert command_word(argv) != "run", argv
    whole = build_parser(command_word(["sale", "1.00"]))._subparsers._group_actions[0].choices
    assert {"run", "sale", "journal", "iso8583", "config"} <= set(whole)


def _journal_of(path: Path, sales: int) -> Path:
    journal = Journal.open(path, fingerprint_key=KEY)
    for i in range(sales):
        txn = journal.begin("sale", amount=100 + i, currency="156", pan="6226090000000048", entry_mode="051",
                            operator="01", role="cashier",
                            request=lambda trace, batch: {"mti": "0200", "11": f"{trace:06d}"})
        journal.complete(txn.id, approved=True, response_code="00", rrn=f"{i:012d}", auth_code="A1B2C3",
                         response={"39": "00"})
    journal.close()
    return path


def test_checking_the_whole_chain_takes_the_same_memory_for_a_journal_four_times_the_size(tmp_path):
    """The daemon checks the whole journal at every start: the digests the events vouch for wait in a
    temporary table, not in a dict of every row (~380 bytes a row: 3.8 MB at 10,000 sales, left resident)."""
    from agent.journal.hashchain import verify_chain

    peaks = []
    for sales in (100, 400):
        conn = sqlite3.connect(_journal_of(tmp_path / f"{sales}.db", sales), isolation_level=None)
        tracemalloc.start()
        try:
            assert verify_chain(conn) == (2 * sales + 1, None, None)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert not conn.in_transaction  # nothing left behind: no transaction, no table
        assert conn.execute("SELECT count(*) FROM temp.sqlite_master").fetchone()[0] == 0
        conn.close()
    assert peaks[1] - peaks[0] < 32 * 1024, peaks  # a dict of every row: [29176, 115411]
