"""The power-cut filesystem itself: what was fsynced survives a cut, what was not is gone; creates,
renames and removals last only once their directory is fsynced; a cut can tear the last write at a
sector boundary; the N-th storage call fails on command.  The page cache is also checked, without FUSE,
against a plain byte-array model for any sequence of writes, truncates, fsyncs and cuts."""

from __future__ import annotations

import errno
import os
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.powercut.pages import SECTOR, UnsyncedFile, torn_prefix
from tests.powercutkit import disk  # noqa: F401 — the fixture


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(path, data: bytes, *, sync: bool, mode: str = "wb") -> None:
    with open(path, mode) as f:
        f.write(data)
        f.flush()
        if sync:
            os.fsync(f.fileno())


def test_a_write_not_fsynced_is_gone_after_a_cut_and_an_fsynced_one_is_not(disk):
    m = disk.mountpoint
    _write(m / "kept", b"A" * 5000, sync=True)
    _fsync_dir(m)
    _write(m / "kept", b"B" * 10, sync=False, mode="ab")       # appended, never fsynced
    _write(m / "never-synced", b"C" * 100, sync=False)
    assert (m / "kept").stat().st_size == 5010 and (m / "never-synced").exists()
    result = disk.cut()
    assert result["dropped_files"] == 2
    assert (m / "kept").read_bytes() == b"A" * 5000
    assert not (m / "never-synced").exists()


def test_a_new_file_fsynced_but_not_its_directory_is_gone_after_a_cut(disk):
    m = disk.mountpoint
    _write(m / "orphan", b"data", sync=True)
    disk.cut()
    assert not (m / "orphan").exists()


def test_rename_and_unlink_last_only_once_the_directory_is_fsynced(disk):
    m = disk.mountpoint
    for name in ("old", "victim", "target"):
        _write(m / name, name.encode(), sync=True)
    _fsync_dir(m)
    os.replace(m / "old", m / "target")
    os.unlink(m / "victim")
    disk.cut()
    assert sorted(os.listdir(m)) == ["old", "target", "victim"]
    assert (m / "target").read_bytes() == b"target" and (m / "victim").read_bytes() == b"victim"
    os.replace(m / "old", m / "target")
    _fsync_dir(m)
    disk.cut()
    assert sorted(os.listdir(m)) == ["target", "victim"] and (m / "target").read_bytes() == b"old"


def test_a_cut_tears_the_last_unsynced_write_at_a_sector_boundary(disk):
    m = disk.mountpoint
    _write(m / "f", b"\0" * 4096, sync=True)
    _fsync_dir(m)
    with open(m / "f", "r+b") as f:
        f.seek(100)
        f.write(b"X" * 3000)
    result = disk.cut(tear=2)
    data = (m / "f").read_bytes()
    assert result["torn_bytes"] == 2 * SECTOR - 100  # up to the end of the second sector it touched
    assert data[100:2 * SECTOR] == b"X" * (2 * SECTOR - 100) and data[2 * SECTOR:] == b"\0" * (4096 - 2 * SECTOR)


@pytest.mark.parametrize("call,error,code", [("write", "EIO", errno.EIO), ("fsync", "ENOSPC", errno.ENOSPC),
                                             ("read", "EIO", errno.EIO), ("rename", "EIO", errno.EIO)])
def test_the_nth_storage_call_fails_with_the_error_asked_for(disk, call, error, code):
    m = disk.mountpoint
    _write(m / "a", b"x" * 10, sync=True)
    _fsync_dir(m)
    disk.cut()  # a fresh mount: the read below is not served from the kernel's page cache
    # the kernel retries a failed readahead with a plain read: a read fault must last to be seen
    disk.fail(call, nth=1, error=error, sticky=call == "read")
    with pytest.raises(OSError) as failed:
        if call == "write":
            _write(m / "b", b"y", sync=False)
        elif call == "fsync":
            _write(m / "b", b"y", sync=True)
        elif call == "read":
            (m / "a").read_bytes()
        else:
            os.rename(m / "a", m / "c")
    assert failed.value.errno == code
    assert disk.clear() >= 1
    _write(m / "b", b"fine", sync=True)  # and the disk works again once the fault is cleared


def test_a_sticky_fault_keeps_failing_until_cleared(disk):
    m = disk.mountpoint
    disk.fail("write", nth=2, error="EIO", sticky=True)
    with open(m / "f", "wb", buffering=0) as f:
        f.write(b"1")
        for _ in range(3):
            with pytest.raises(OSError):
                f.write(b"2")
    assert disk.clear() == 3


def test_sqlite_wal_commits_survive_a_cut_and_the_unfinished_one_does_not(disk):
    """SQLite's WAL index (-shm) is mapped shared with mmap; the layer serves it (no direct_io), so the
    journal runs here with its real settings: WAL, synchronous=FULL."""
    path = disk.mountpoint / "t.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t(x)")
    for i in range(50):
        conn.execute("INSERT INTO t VALUES (?)", (i,))
    conn.execute("BEGIN")
    conn.execute("INSERT INTO t VALUES (999)")
    conn.close()  # the unfinished transaction never committed
    disk.cut(tear=1)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*), max(x) FROM t").fetchone() == (50, 49)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


# ---------------------------------------------------------------------- the page cache, without FUSE
_ops = st.lists(st.one_of(
    st.tuples(st.just("write"), st.integers(0, 20_000), st.binary(min_size=1, max_size=5000)),
    st.tuples(st.just("truncate"), st.integers(0, 20_000)),
    st.tuples(st.just("fsync")), st.tuples(st.just("cut"))), max_size=30)


@settings(max_examples=150, deadline=None)
@given(initial=st.binary(max_size=9000), ops=_ops)
def test_unsynced_pages_behave_like_a_file_until_fsync_and_vanish_on_a_cut(initial, ops):
    durable = bytearray(initial)   # what the disk holds
    seen = bytearray(initial)      # what a reader sees
    cache: UnsyncedFile | None = None

    def read_durable(offset, size):
        return bytes(durable[offset:offset + size])

    for op in ops:
        if op[0] in ("write", "truncate"):
            cache = cache or UnsyncedFile(size=len(durable), durable_size=len(durable))
        if op[0] == "write":
            _, offset, data = op
            cache.write(offset, data, read_durable)
            if len(seen) < offset:
                seen += bytes(offset - len(seen))
            seen[offset:offset + len(data)] = data
        elif op[0] == "truncate":
            cache.truncate(op[1])
            seen = seen[:op[1]] + bytes(max(0, op[1] - len(seen)))
        elif op[0] == "fsync" and cache is not None:
            del durable[cache.zero_from:]
            for offset, chunk in cache.extents():
                if len(durable) < offset:
                    durable += bytes(offset - len(durable))
                durable[offset:offset + len(chunk)] = chunk
            del durable[cache.size:]
            durable += bytes(cache.size - len(durable))
            cache = None
        elif op[0] == "cut":
            cache, seen = None, bytearray(durable)
        if cache is not None:
            assert cache.size == len(seen)
            assert cache.read(0, len(seen) + 10, read_durable) == bytes(seen)
        else:
            assert durable == seen


@given(offset=st.integers(0, 10_000), data=st.binary(min_size=1, max_size=4000), sectors=st.integers(0, 10))
def test_a_torn_write_keeps_a_prefix_that_ends_on_a_sector_boundary(offset, data, sectors):
    kept = torn_prefix(offset, data, sectors)
    assert data.startswith(kept)
    assert len(kept) in (0, len(data)) or (offset + len(kept)) % SECTOR == 0
    assert (sectors == 0) == (kept == b"")


def test_a_cut_armed_at_the_nth_fsync_lands_just_before_it(disk):
    m = disk.mountpoint
    _write(m / "first", b"1" * 100, sync=True)
    _fsync_dir(m)
    disk.cut_at("fsync", 2)
    _write(m / "first", b"2" * 100, sync=True)            # fsync 1: durable
    with pytest.raises(OSError):
        _write(m / "second", b"3" * 100, sync=True)       # fsync 2: the power fails just before it
    with pytest.raises(OSError):
        (m / "anything").write_bytes(b"x")                # and nothing answers until the power is back
    assert disk.power_cut() is True
    assert (m / "first").read_bytes() == b"2" * 100 and not (m / "second").exists()
    assert disk.power_cut() is False                      # nothing armed: a plain cut now


def test_waiting_for_the_armed_cut_wakes_when_it_lands_and_times_out_when_it_does_not(disk):
    import threading
    m = disk.mountpoint
    cuts = disk.cut_at("fsync", 1)
    assert disk.wait_cut(cuts, timeout=0.05) is False      # armed, not yet reached: the wait times out
    woke = []
    waiter = threading.Thread(target=lambda: woke.append(disk.wait_cut(cuts, timeout=20)))
    waiter.start()
    with pytest.raises(OSError):
        _write(m / "f", b"x", sync=True)                    # the fsync: the power fails here
    waiter.join(20)
    assert woke == [True]
    assert disk.power_cut() is True
    assert disk.wait_cut(cuts, timeout=0) is True           # counted: a later wait on the same count returns
    with pytest.raises(Exception, match="wait_cut needs after"):
        disk.control(op="wait_cut", after="one", timeout=1)


def test_setting_a_files_times_to_now_is_answered_not_refused(tmp_path):
    # utimens without times ("now", as mfusepy hands it when the kernel gives none) touches the file
    from simulator.powercut.fs import PowercutFS

    (tmp_path / "disk").mkdir()
    (tmp_path / "disk" / "f").write_bytes(b"x")
    os.utime(tmp_path / "disk" / "f", ns=(1_000_000_000, 1_000_000_000))
    fs = PowercutFS(tmp_path / "disk", tmp_path / "trash")
    assert fs.utimens("/f") == 0
    assert os.stat(tmp_path / "disk" / "f").st_mtime_ns > 1_000_000_000
    assert fs.utimens("/f", (2_000_000_000, 3_000_000_000)) == 0
    assert os.stat(tmp_path / "disk" / "f").st_mtime_ns == 3_000_000_000
