"""The daemon's resident memory: what a running terminal keeps is bounded, whatever it has sold.

`python -m bench.engine` measures the resident size after 10,000 sales; these tests hold the causes."""

from __future__ import annotations

import sqlite3

from agent.journal import Journal
from agent.journal.schema import CACHE_KIB

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
