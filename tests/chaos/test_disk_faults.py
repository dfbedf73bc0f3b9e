"""Disk faults under the real daemon: the journal on a small filesystem (a size-limited tmpfs this test
mounts) that fills up, and a journal whose filesystem turns read-only.  The agent refuses new sales
with a clear message, keeps everything already recorded, and the bank's ledger still equals the journal
once space is back.  Needs root to mount (skipped with the reason otherwise; a failure under CI=true)."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from agent.journal import Journal
from simulator.chaos.checker import check
from simulator.stack import Daemon, Host, StackError
from tests import harness


def _mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@pytest.fixture
def small_fs(tmp_path):
    harness.require(os.geteuid() == 0 and shutil.which("mount") is not None,
                    "mounting a size-limited tmpfs for the journal needs root")
    where = tmp_path / "fs"
    where.mkdir()
    mounted = _mount("-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(where))
    harness.require(mounted.returncode == 0, f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield where
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture
def stack(tmp_path, small_fs):
    host = Host.start(tmp_path)
    daemon = Daemon(tmp_path, host.port, response_timeout=1.0, reversal_retries=10,
                    journal_path=small_fs / "journal.db")
    daemon.start()
    yield host, daemon
    daemon.stop()
    host.stop()


def _fill(where: Path, leave: int) -> None:
    """Fill the filesystem until only `leave` bytes are free."""
    stat = os.statvfs(where)
    try:
        with open(where / "filler", "ab") as filler:
            filler.write(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave))
    except OSError as exc:  # tmpfs may count a little less free than it said: full is full
        if exc.errno != errno.ENOSPC:
            raise


def _sale(daemon: Daemon, amount: int, card: str = "debit") -> dict:
    return daemon.call("sale", {"amount": amount, "card": card, "confirm_duplicate": True, "confirm_unusual": True})


def _check_against_bank(tmp_path: Path, fs: Path):
    """The checker reads the journal beside the ledger: copy the journal files over, then check."""
    for name in ("journal.db", "journal.db-wal", "journal.db-shm"):
        if (fs / name).exists():
            shutil.copy(fs / name, tmp_path / name)
    return check(tmp_path)


def _traces(daemon: Daemon) -> set[int]:
    found = daemon.call("lookup", {"limit": 1000})["result"]["transactions"]
    return {t["trace"] for t in found if t["state"] == "approved"}


def test_full_disk_refuses_new_sales_clearly_and_loses_nothing(tmp_path, small_fs, stack):
    host, daemon = stack
    approved = set()
    for amount in range(101, 111):
        reply = _sale(daemon, amount)
        assert reply["ok"] and reply["outcome"]["status"] == "approved", reply
        approved.add(reply["outcome"]["txn"]["trace"])
    _fill(small_fs, 0)
    refused = _sale(daemon, 999)
    assert not refused["ok"]
    assert "disk is full" in refused["error"]["message"] and "no new transactions" in refused["error"]["message"]
    assert daemon.alive and daemon.call("status")["ok"]
    assert approved <= _traces(daemon)  # nothing recorded was lost
    os.remove(small_fs / "filler")
    after = _sale(daemon, 222)
    assert after["ok"] and after["outcome"]["status"] == "approved", after
    daemon.call("reversal_retry")
    found = _check_against_bank(tmp_path, small_fs)
    assert found.ok, [v.render() for v in found.violations]


def test_disk_full_between_intent_and_outcome_is_reversed_without_a_restart(tmp_path, small_fs, stack):
    """Found by the chaos campaign: with room for the journal's intent but not for the outcome, the bank
    charged the card and the sale stayed "sending" with its reversal armed but never sent until the daemon
    was restarted.  The next operation now reverses it first."""
    host, daemon = stack
    stranded = None
    for leave in range(0, 128 * 1024, 1024):
        _fill(small_fs, leave)
        _sale(daemon, 5000 + leave // 1024, card="credit")
        os.remove(small_fs / "filler")
        status = daemon.call("status")["result"]
        if status["journal"]["in_doubt"]:
            stranded = leave
            break
    assert stranded is not None, "no free-space size left a sale between intent and outcome"
    retried = daemon.call("reversal_retry")
    assert retried["ok"] and retried["result"]["status"] == "done", retried
    status = daemon.call("status")["result"]
    assert status["journal"]["in_doubt"] == 0 and status["reversals"]["pending"] == 0, status
    found = _check_against_bank(tmp_path, small_fs)
    assert found.ok, [v.render() for v in found.violations]


@pytest.mark.parametrize("how", ["stopped", "killed"])
def test_read_only_journal_refuses_new_sales_and_keeps_the_record(tmp_path, small_fs, stack, how):
    host, daemon = stack
    kept = {_sale(daemon, amount)["outcome"]["txn"]["trace"] for amount in (300, 301, 302)}
    # the filesystem can only turn read-only once nothing has it open for writing; a kill leaves the WAL
    daemon.stop() if how == "stopped" else daemon.kill()
    assert _mount("-o", "remount,ro", str(small_fs)).returncode == 0
    try:
        with pytest.raises(StackError) as start:
            daemon.start()
        message = str(start.value)
        assert "read-only" in message and "Traceback" not in message, message
        journal = Journal.open(small_fs / "journal.db", fingerprint_key=None, read_only=True)
        try:  # what was recorded is all there and readable
            assert kept <= {t.trace for t in journal.find(limit=100) if t.state == "approved"}
            assert journal.verify().ok
        finally:
            journal.close()
    finally:
        assert _mount("-o", "remount,rw", str(small_fs)).returncode == 0
    daemon.start()
    assert kept <= _traces(daemon)
    assert _sale(daemon, 304)["outcome"]["status"] == "approved"
    found = _check_against_bank(tmp_path, small_fs)
    assert found.ok, [v.render() for v in found.violations]
