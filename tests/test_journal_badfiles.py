"""Bad files and bad storage: a file that is not our journal is refused and left byte-for-byte
untouched; a read-only file or a full disk is reported and refuses new transactions without losing any."""

from __future__ import annotations

import multiprocessing
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from agent.journal import Journal, JournalError, StorageError
from agent.journal.schema import SCHEMA_VERSION

KEY = b"test-fingerprint-key-0123456789ab"
PAN = "6226090000000048"


def _request(trace, batch):
    return {"mti": "0200", "11": f"{trace:06d}"}


def _sale(j, amount=100):
    t = j.begin("sale", amount=amount, currency="156", pan=PAN, entry_mode="051", operator="o", role="cashier",
                request=_request)
    return j.complete(t.id, approved=True, response_code="00", rrn=None, auth_code=None, response={"39": "00"})


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def _assert_refused_untouched(path: Path, match: str) -> None:
    before = _snapshot(path.parent)
    with pytest.raises(JournalError, match=match) as caught:
        Journal.open(path, fingerprint_key=KEY)
    assert _snapshot(path.parent) == before, "the refused file (or its folder) was modified"
    assert "untouched" in str(caught.value)


def _journal_with_sales(path: Path, n: int = 3) -> None:
    j = Journal.open(path, fingerprint_key=KEY)
    for _ in range(n):
        _sale(j)
    j.close()


def test_a_text_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "journal.db"
    path.write_bytes(b"trace,amount\n1,100\n" * 50)
    _assert_refused_untouched(path, "not an SQLite database")


def test_a_damaged_journal_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "journal.db"
    _journal_with_sales(path)
    data = bytearray(path.read_bytes())
    data[100:4096] = os.urandom(3996)  # page 1 (the schema) beyond the header
    path.write_bytes(bytes(data))
    _assert_refused_untouched(path, "damaged|cannot be opened|not a posagent journal")


def test_a_truncated_journal_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "journal.db"
    _journal_with_sales(path)
    path.write_bytes(path.read_bytes()[:50])
    _assert_refused_untouched(path, "damaged|cannot be opened")


def test_another_applications_database_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "journal.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    _assert_refused_untouched(path, "not a posagent journal")


def test_a_newer_schema_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "journal.db"
    _journal_with_sales(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    _assert_refused_untouched(path, f"schema version {SCHEMA_VERSION + 1}, newer than")


def test_an_empty_file_becomes_a_new_journal(tmp_path):
    path = tmp_path / "journal.db"
    path.write_bytes(b"")
    j = Journal.open(path, fingerprint_key=KEY)
    assert j.open_batch().number == 1 and j.verify().ok
    j.close()


def test_a_failed_migration_changes_nothing(tmp_path, monkeypatch):
    from agent.journal import schema
    path = tmp_path / "journal.db"
    sqlite3.connect(path).close()  # an empty SQLite database, schema version 0

    def broken(db):
        db["batches"].create({"id": int}, pk="id")
        raise sqlite3.OperationalError("simulated failure half way")
    monkeypatch.setattr(schema, "MIGRATIONS", (broken,))
    with pytest.raises(StorageError, match="simulated failure"):
        Journal.open(path, fingerprint_key=KEY)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0


def _immutable(path: Path, on: bool) -> bool:
    chattr = shutil.which("chattr")
    if chattr is None:
        return False
    return subprocess.run([chattr, "+i" if on else "-i", str(path)], capture_output=True).returncode == 0


def test_a_read_only_journal_refuses_new_transactions_and_loses_nothing(tmp_path):
    path = tmp_path / "journal.db"
    _journal_with_sales(path, 2)
    if os.geteuid() == 0:
        if not _immutable(path, True):
            pytest.skip("running as root and chattr +i is not available here to make a file read-only")
    else:
        path.chmod(0o444)
    try:
        before = path.read_bytes()
        try:
            j = Journal.open(path, fingerprint_key=KEY)
        except StorageError as exc:  # refused at open: also acceptable, it must say why
            assert "read-only" in str(exc)
            return
        with pytest.raises(StorageError, match="read-only; no new transactions"):
            _sale(j)
        assert len(j.find()) == 2
        j.close()
        assert path.read_bytes() == before
    finally:
        if os.geteuid() == 0:
            _immutable(path, False)
        else:
            path.chmod(0o644)
    j = Journal.open(path, fingerprint_key=KEY)
    assert len(j.find()) == 2 and j.verify().ok
    _sale(j)
    j.close()


def _fill_until_refused(path: str, results) -> None:
    """Child: write sales until storage refuses; report what was committed and the error."""
    committed, error = [], None
    try:
        j = Journal.open(path, fingerprint_key=KEY)
        for i in range(100_000):
            try:
                t = j.begin("sale", amount=100 + i, currency="156", pan=PAN, entry_mode="051", operator="o",
                            role="cashier", request=lambda trace, batch: {"pad": "x" * 2000, "11": trace})
            except StorageError as exc:
                error = str(exc)
                break
            committed.append(t.id)
            try:
                j.complete(t.id, approved=True, response_code="00", rrn=None, auth_code=None,
                           response={"pad": "y" * 2000})
            except StorageError as exc:
                error = str(exc)
                break
        try:
            j.close()
        except Exception:
            pass
    finally:
        results.put((committed, error))


def _check_after_full(path: Path, committed: list[int], error: str | None, why: str) -> None:
    assert error is not None and why in error and "no new transactions" in error
    j = Journal.open(path, fingerprint_key=KEY)
    try:
        ids = {t.id for t in j.find(limit=1000)}
        assert set(committed) <= ids, "a transaction that begin() returned was lost"
        recovery = j.in_doubt()
        unresolved = {t.id for t in recovery.unanswered}
        for txn_id in committed:
            assert j.get(txn_id).state == "approved" or txn_id in unresolved
        assert j.verify().ok
    finally:
        j.close()


def _run_child(target, *args):
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    child = ctx.Process(target=target, args=(*args, results))
    child.start()
    committed, error = results.get(timeout=60)
    child.join(30)
    return committed, error


def _limited_child(path: str, limit: int, results) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # report EFBIG as an error instead of dying
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    _fill_until_refused(path, results)


@pytest.mark.parametrize("limit_kib", [160, 200, 256, 300, 384])
def test_a_file_size_limit_is_reported_and_nothing_committed_is_lost(tmp_path, limit_kib):
    # different limits make the write fail at different moments (intent, outcome, checkpoint)
    path = tmp_path / "journal.db"
    _journal_with_sales(path, 1)
    committed, error = _run_child(_limited_child, str(path), limit_kib * 1024)
    assert committed, "the child committed nothing before the limit"
    _check_after_full(path, committed, error, "storage error")


@pytest.fixture
def tiny_filesystem(tmp_path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=384k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.decode().strip()}); "
                    "the file-size-limit test covers the same path")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_full_disk_is_reported_and_nothing_committed_is_lost(tiny_filesystem):
    path = tiny_filesystem / "journal.db"
    _journal_with_sales(path, 1)
    committed, error = _run_child(lambda p, q: _fill_until_refused(p, q), str(path))
    assert committed
    copy = tiny_filesystem.parent / "copy"
    copy.mkdir()
    for name in os.listdir(tiny_filesystem):
        shutil.copy(tiny_filesystem / name, copy / name)  # check on a disk with room to open the WAL
    _check_after_full(copy / "journal.db", committed, error, "the disk is full")


def test_a_page_that_fails_after_the_first_row_is_a_storage_error_not_an_internal_one(tmp_path):
    """SQLite reads a page when a row is stepped to: a damaged page met after the first row (a torn write
    after a power cut) must say "storage error" as a damaged first page does — the daemon answered
    "internal error: DatabaseError" when it surfaced while the rows were fetched."""
    from agent.journal.reads import ReportingConnection

    path = tmp_path / "rows.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", [(f"{n:06d}" * 30,) for n in range(3000)])
    conn.commit()
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with path.open("r+b") as damaged:  # the last leaf page (the last rows inserted) overwritten
        damaged.seek(path.stat().st_size - page_size)
        damaged.write(b"\xff" * page_size)
    reading = sqlite3.connect(path, isolation_level=None, factory=ReportingConnection)
    try:
        assert reading.execute("SELECT x FROM t").fetchone() is not None  # the first pages are sound
        for fetch in (lambda c: c.fetchall(), list, lambda c: c.fetchmany(5000)):
            with pytest.raises(StorageError, match="read the journal"):
                fetch(reading.execute("SELECT x FROM t"))
        reading.execute("BEGIN")  # inside a write the writer reports it (and rolls back): the error as SQLite said it
        with pytest.raises(sqlite3.DatabaseError):
            reading.execute("SELECT x FROM t").fetchall()
        reading.execute("ROLLBACK")
    finally:
        reading.close()
