"""Every file posagent saves outside the journal, on the power-cut filesystem: after a cut it holds the
old contents or the new ones, never half and never nothing.  Each test is named after the fix it proves:
the working-key file and the fingerprint key were saved without an fsync of their directory, so a power
cut right after a sign-on lost the new keys (or the key file itself), and a cut right after the first
start lost the fingerprint key (every PAN fingerprint in the journal then stopped matching)."""

from __future__ import annotations

import json
import os
import secrets

import pytest

from agent import atomicfile
from agent.config import load
from agent.console import configedit
from agent.consolefiles import FileStateStore
from agent.daemon.startup import load_fingerprint_key
from agent.iso8583.crypto import kcv, wrap_working_key
from agent.keys.store import SoftwareKeyStore
from tests.powercutkit import disk  # noqa: F401 — the fixture

TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


def _field62_keys() -> tuple[list[tuple[bytes, bytes]], list[bytes]]:
    clear = [secrets.token_bytes(16) for _ in range(2)]
    return [(wrap_working_key(TMK, k), kcv(k)) for k in clear], clear


def test_fix_working_key_file_saved_with_its_directory_fsynced(disk):
    path = disk.mountpoint / "keys" / "working-keys.json"
    store = SoftwareKeyStore(TMK, path)
    first, _ = _field62_keys()
    checks = store.install_working_keys(first, key_mode="003")
    disk.cut()
    assert SoftwareKeyStore(TMK, path).key_check_values() == checks  # the sign-on survived the cut
    second, _ = _field62_keys()
    new_checks = store.install_working_keys(second, key_mode="003")
    disk.cut()
    assert SoftwareKeyStore(TMK, path).key_check_values() == new_checks


def test_fix_working_keys_that_cannot_be_saved_are_not_used(disk):
    path = disk.mountpoint / "working-keys.json"
    store = SoftwareKeyStore(TMK, path)
    old = store.install_working_keys(_field62_keys()[0], key_mode="003")
    disk.fail("fsync", nth=1, error="EIO")
    with pytest.raises(Exception) as refused:
        store.install_working_keys(_field62_keys()[0], key_mode="003")
    assert "cannot save the working-key file" in str(refused.value) and "Traceback" not in str(refused.value)
    disk.clear()
    assert store.key_check_values() == old  # in memory: still the keys that are on disk
    disk.cut()
    assert SoftwareKeyStore(TMK, path).key_check_values() == old


def test_fix_fingerprint_key_created_with_its_directory_fsynced(disk):
    path = disk.mountpoint / "fingerprint.key"
    key = load_fingerprint_key(path)
    disk.cut()
    assert path.read_bytes() == key and load_fingerprint_key(path) == key


def test_fix_fingerprint_key_is_never_left_short_by_a_cut_while_it_is_created(disk):
    """At every storage call of its creation, a cut leaves no key (made afresh next start) or the whole key."""
    path = disk.mountpoint / "fingerprint.key"
    n = 1
    while True:
        disk.fail("any", nth=n, error="EIO")
        try:
            load_fingerprint_key(path)
        except Exception as exc:  # noqa: BLE001 — the error must be the daemon's own, one line
            assert "fingerprint key" in str(exc) and "\n" not in str(exc)
        fired = disk.clear()
        disk.cut()
        assert not path.exists() or len(path.read_bytes()) == 32
        assert len(load_fingerprint_key(path)) == 32
        os.unlink(path)
        atomicfile.fsync_directory(path.parent)
        if not fired:
            break
        n += 1
    assert n > 3


def test_console_lock_state_survives_a_power_cut(disk):
    store = FileStateStore(disk.mountpoint / "journal.db.console-auth.json")
    store.set_state("auth.technician", '{"failures": 4}')
    disk.cut()
    assert store.get_state("auth.technician") == '{"failures": 4}'


def test_config_save_survives_a_power_cut(disk):
    path = disk.mountpoint / "posagent.toml"
    configedit.save(path, "terminal", "merchant_name", "Before")
    disk.cut()
    assert load(path).terminal.merchant_name == "Before"
    configedit.save(path, "terminal", "merchant_name", "After")
    disk.cut()
    assert load(path).terminal.merchant_name == "After"


def test_an_atomic_save_cut_at_every_storage_call_leaves_the_old_file_or_the_new_one(disk):
    path = disk.mountpoint / "state" / "file.json"
    old, new = json.dumps({"v": "old" * 500}).encode(), json.dumps({"v": "new" * 900}).encode()
    atomicfile.atomic_write(path, old)
    seen, n = set(), 1
    while True:
        disk.fail("any", nth=n, error="EIO")
        try:
            atomicfile.atomic_write(path, new)
        except OSError:
            pass
        fired = disk.clear()
        disk.cut(tear=1)
        now = path.read_bytes()
        assert now in (old, new), f"storage call {n}: the file holds neither the old nor the new contents"
        seen.add(now)
        if now == new:
            atomicfile.atomic_write(path, old)
        if not fired:
            break
        n += 1
    assert seen == {old, new} and n > 4
