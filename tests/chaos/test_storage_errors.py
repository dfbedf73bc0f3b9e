"""I/O errors at every storage call: the journal on the power-cut filesystem, and for one sale, void,
refund and settlement, the N-th storage call (read, write, fsync, rename, create, unlink, truncate) fails
with EIO and keeps failing — for N = 1, 2, … until the operation completes without reaching the fault.
Each time: the daemon answers with a clear one-line error (never "internal"), refuses new sales while the
disk fails, and once the disk works again it recovers by itself; after the pending reversals are retried
the journal holds exactly the old state or exactly the new one (no transaction left half way, nothing in
doubt), and at the end the bank's ledger equals the journal."""

from __future__ import annotations

import pytest

from simulator.chaos.checker import check
from simulator.powercut.mount import PowercutMount, unavailable
from simulator.stack import Daemon, Host
from tests import harness

FINAL = {"approved", "declined", "reversed", "voided", "failed", "refunded", "refunded_partially"}
LIMIT = 2000  # storage calls; an operation that makes more has gone wrong


@pytest.fixture
def stack(tmp_path):
    reason = unavailable()
    harness.require(reason is None, reason or "")
    disk = PowercutMount.start(tmp_path / "powercut")
    host = daemon = None
    try:
        for suffix in ("", "-wal", "-shm"):  # the checker reads the journal beside the ledger
            (tmp_path / f"journal.db{suffix}").symlink_to(disk.mountpoint / f"journal.db{suffix}")
        host = Host.start(tmp_path)
        daemon = Daemon(tmp_path, host.port, response_timeout=1.0, reversal_retries=10,
                        journal_path=disk.mountpoint / "journal.db")
        daemon.start()
        yield disk, host, daemon
    finally:
        if daemon is not None:
            daemon.stop()
        if host is not None:
            host.stop()
        disk.stop()


def _sale(daemon, amount):
    return daemon.call("sale", {"amount": amount, "card": "debit", "confirm_duplicate": True, "confirm_unusual": True})


def _transactions(daemon) -> dict[int, tuple]:
    found = daemon.call("lookup", {"limit": 1000})["result"]["transactions"]
    return {t["id"]: (t["kind"], t["state"], t["amount"]) for t in found}


def _quiesce(daemon) -> dict:
    for _ in range(20):
        status = daemon.call("status")["result"]
        if not status["reversals"]["pending"] and status["journal"]["settling"] is None \
                and not status["journal"]["in_doubt"]:
            return status
        daemon.call("reversal_retry")
        if status["journal"]["settling"] is not None:
            daemon.call("settle", {"confirm": True}, supervisor=True)
    raise AssertionError(f"still owed after the disk came back: {status}")


def _prepare(daemon, op: str, n: int) -> tuple[str, dict]:
    sale = _sale(daemon, 5000 + n)
    assert sale["ok"] and sale["outcome"]["status"] == "approved", sale
    trace = sale["outcome"]["txn"]["trace"]
    if op == "sale":
        return "sale", {"amount": 700 + n, "card": "debit", "confirm_duplicate": True, "confirm_unusual": True}
    if op == "void":
        return "void", {"trace": trace}
    if op == "refund":
        return "refund", {"trace": trace, "amount": 100 + n}
    return "settle", {"confirm": True}


@pytest.mark.parametrize("op", ["sale", "void", "refund", "settle"])
def test_an_io_error_at_every_storage_call_leaves_the_old_state_or_the_new_one(tmp_path, stack, op):
    disk, host, daemon = stack
    n = 0
    while True:
        n += 1
        assert n <= LIMIT, f"{op} still reached the fault after {LIMIT} storage calls"
        name, args = _prepare(daemon, op, n)
        before = _transactions(daemon)
        disk.fail("any", nth=n, error="EIO", sticky=True)
        reply = daemon.call(name, args, supervisor=name != "sale")
        fired = disk.stats()["fault_fired"]
        answers = [reply]
        if fired:  # the disk is still failing: nothing new is taken on
            refused = _sale(daemon, 999)
            assert not refused["ok"] and "new transactions" in refused["error"]["message"], (n, refused)
            answers.append(refused)
        disk.clear()
        for answer in answers:
            error = answer.get("error") or {}
            assert error.get("code") != "internal", f"storage call {n} of {op}: {answer}"
            assert "Traceback" not in str(error) and "\n" not in error.get("message", ""), answer
        assert daemon.alive
        _quiesce(daemon)  # the disk works again: the daemon recovers by itself, no restart
        after = _transactions(daemon)
        new = set(after) - set(before)
        assert len(new) <= 1 + (op == "void"), f"storage call {n} of {op}: more than one new transaction: {new}"
        assert all(after[i][1] in FINAL for i in after), f"storage call {n} of {op}: left half way: {after}"
        for txn_id, (kind, state, amount) in before.items():  # the rest is untouched, the target old or new
            assert after[txn_id][0] == kind and after[txn_id][2] == amount
        if not fired:
            break
    assert n > 3
    settle = daemon.call("settle", {"confirm": True}, supervisor=True)
    assert settle["ok"], settle
    found = check(tmp_path)
    assert found.ok, [v.render() for v in found.violations]
