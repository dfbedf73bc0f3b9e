"""The journal on a disk that fails: reads outside a write say "storage error" (with the journal's path
and "no new transactions"), never an unexplained `sqlite3.DatabaseError`; what was committed survives a
power cut that comes just before any later fsync."""

from __future__ import annotations

import sqlite3

import pytest

from agent.journal import Journal, StorageError
from tests.powercutkit import disk  # noqa: F401 — the fixture
from tests.test_journal_basics import KEY, sale


def test_fix_journal_reads_report_a_failing_disk_as_a_storage_error(disk):
    journal = Journal.open(disk.mountpoint / "journal.db", fingerprint_key=KEY)
    try:
        sale(journal)
        disk.fail("any", nth=1, error="EIO", sticky=True)
        with pytest.raises(StorageError):
            sale(journal, rrn="000000000002")
        for read in (lambda: journal.find(limit=10), journal.in_doubt):  # the pages must come from the disk now
            with pytest.raises(StorageError) as failed:
                read()
            assert not isinstance(failed.value, sqlite3.Error)
            assert "no new transactions" in str(failed.value) and str(disk.mountpoint) in str(failed.value)
        disk.clear()
        assert [t.state for t in journal.find(limit=10)] == ["approved"]  # and it reads again once the disk works
    finally:
        disk.clear()
        journal.close()


def test_committed_sales_survive_a_power_cut_before_any_later_fsync(disk):
    path = disk.mountpoint / "journal.db"
    for cut_at in range(1, 6):
        journal = Journal.open(path, fingerprint_key=KEY)
        try:
            kept = {t.id for t in journal.find(limit=1000)}
            done = sale(journal, rrn=f"{cut_at:012d}")
            kept.add(done.id)
            disk.cut_at("fsync", cut_at, tear=cut_at % 3)
            for n in range(3):  # more sales; the power fails somewhere in them
                try:
                    sale(journal, rrn=f"{cut_at:06d}{n:06d}")
                except StorageError:
                    break
        finally:
            journal.close()
        disk.power_cut()
        journal = Journal.open(path, fingerprint_key=KEY)
        try:
            assert kept <= {t.id for t in journal.find(limit=1000)}
            assert journal.verify().ok
        finally:
            journal.close()
