"""Loading the terminal master key as components, and keeping it encrypted at rest under the device key."""

from __future__ import annotations

import os
import stat

import pytest
from hypothesis import given, strategies as st

from agent.keyload import KeyLoadError, MasterKeyFile, MasterKeyLoad, check_value

#: published check values: the well-known test key, and single-DES 0123456789ABCDEF (FIPS 81 / X9 test vector)
TEST_KEY = "0123456789ABCDEFFEDCBA9876543210"
C1 = "0123456789ABCDEF0123456789ABCDEF"  # check value D5D44F
C2 = "0000000000000000FFFFFFFFFFFFFFFF"  # C1 xor C2 = TEST_KEY, check value 08D7B4


def test_published_check_values():
    assert check_value(bytes.fromhex(TEST_KEY)) == "08D7B4"
    assert check_value(bytes.fromhex(C1)) == "D5D44F"


def test_two_components_combine_to_the_key_with_its_published_check_value():
    load = MasterKeyLoad(2)
    assert load.add(C1, "d5d44f") == "D5D44F"
    second = load.add(C2.lower(), check_value(bytes.fromhex(C2)))
    assert len(second) == 6 and load.complete
    assert load.confirm("08D7B4") == bytes.fromhex(TEST_KEY)


def test_a_component_with_the_wrong_check_value_is_refused_and_not_kept():
    load = MasterKeyLoad(2)
    with pytest.raises(KeyLoadError, match="component 1 has check value D5D44F, not 123456"):
        load.add(C1, "123456")
    assert load.next_number == 1  # the same custodian types it again
    load.add(C1, "D5D44F")
    with pytest.raises(KeyLoadError, match="expected 32 or 48 hex digits"):
        load.add("0123", "D5D44F")
    with pytest.raises(KeyLoadError, match="a check value is 4 to 6 hex digits"):
        load.add(C2, "xyz")


def test_the_combined_check_value_must_be_confirmed():
    load = MasterKeyLoad(2)
    load.add(C1, "D5D44F")
    load.add(C2, check_value(bytes.fromhex(C2)))
    with pytest.raises(KeyLoadError, match="combined key has check value 08D7B4, not 08D7B5"):
        load.confirm("08D7B5")


def test_components_that_cancel_into_a_single_des_key_are_refused():
    load = MasterKeyLoad(2)
    load.add(C1, "D5D44F")
    load.add("00" * 16, check_value(bytes(16)))
    with pytest.raises(KeyLoadError, match="halves are equal"):
        load.combined()


@given(st.lists(st.binary(min_size=16, max_size=16), min_size=3, max_size=3))
def test_three_components_xor(components):
    load = MasterKeyLoad(3)
    for c in components:
        load.add(c.hex(), check_value(c))
    expected = bytes(a ^ b ^ c for a, b, c in zip(*components))
    if expected[:8] == expected[8:]:
        return
    assert load.combined() == expected


def test_stored_encrypted_private_and_readable_only_with_the_device_key(tmp_path):
    vault = MasterKeyFile(tmp_path / "data" / "tmk.enc", tmp_path / "etc" / "device.key")
    assert vault.store(bytes.fromhex(TEST_KEY)) == "08D7B4"
    for path in (vault.path, vault.device_key_path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    raw = vault.path.read_bytes()
    assert bytes.fromhex(TEST_KEY) not in raw and TEST_KEY.encode() not in raw.upper()
    assert vault.load() == bytes.fromhex(TEST_KEY)
    other = MasterKeyFile(vault.path, tmp_path / "other.key")
    other._device_key(create=True)
    with pytest.raises(KeyLoadError, match="does not open with the device key"):
        other.load()
    vault.device_key_path.unlink()
    with pytest.raises(KeyLoadError, match="device key .* is missing"):
        vault.load()
    vault.path.write_text("{damaged")
    with pytest.raises(KeyLoadError, match="damaged"):
        vault.load()
