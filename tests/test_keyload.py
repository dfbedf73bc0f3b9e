"""Loading the terminal master key as components, and keeping it encrypted at rest under the device key."""

from __future__ import annotations

import os
import stat

import pytest
from hypothesis import given, strategies as st

from agent.keys.load import KeyLoadError, MasterKeyFile, MasterKeyLoad, check_value

CUSTODIANS = ("custodian1", "custodian2")

#: published check values: the well-known test key, and single-DES 0123456789ABCDEF (FIPS 81 / X9 test vector)
TEST_KEY = "0123456789ABCDEFFEDCBA9876543210"
C1 = "0123456789ABCDEF0123456789ABCDEF"  # check value D5D44F
C2 = "0000000000000000FFFFFFFFFFFFFFFF"  # C1 xor C2 = TEST_KEY, check value 08D7B4


def test_published_check_values():
    assert check_value(bytes.fromhex(TEST_KEY)) == "08D7B4"
    assert check_value(bytes.fromhex(C1)) == "D5D44F"


def test_two_components_combine_to_the_key_with_its_published_check_value():
    load = MasterKeyLoad(CUSTODIANS)
    assert load.add("custodian1", C1, "d5d44f") == "D5D44F"
    second = load.add("custodian2", C2.lower(), check_value(bytes.fromhex(C2)))
    assert len(second) == 6 and load.complete
    assert load.confirm("08D7B4") == bytes.fromhex(TEST_KEY)
    record = load.record("08D7B4")  # what the journal keeps: who, when, check values, never a component
    assert {k: v for k, v in record.items() if not k.endswith("_at")} == {
        "check_value": "08D7B4", "component1_by": "custodian1", "component1_check_value": "D5D44F",
        "component2_by": "custodian2", "component2_check_value": second}
    assert record["component1_at"] <= record["component2_at"]
    assert C1 not in str(record) and C2 not in str(record)


def test_a_component_with_the_wrong_check_value_is_refused_and_not_kept():
    load = MasterKeyLoad(CUSTODIANS)
    with pytest.raises(KeyLoadError, match="component 1 has check value D5D44F, not 123456"):
        load.add("custodian1", C1, "123456")
    assert load.next_number == 1  # the same custodian types it again
    load.add("custodian1", C1, "D5D44F")
    with pytest.raises(KeyLoadError, match="expected 32 or 48 hex digits"):
        load.add("custodian2", "0123", "D5D44F")
    with pytest.raises(KeyLoadError, match="a check value is 4 to 6 hex digits"):
        load.add("custodian2", C2, "xyz")


def test_each_component_is_its_own_custodians_and_nobody_enters_two():
    load = MasterKeyLoad(CUSTODIANS)
    with pytest.raises(KeyLoadError, match="component 1 is custodian1's to enter, not custodian2's"):
        load.add("custodian2", C1, "D5D44F")
    load.add("custodian1", C1, "D5D44F")
    with pytest.raises(KeyLoadError, match="component 2 is custodian2's to enter, not custodian1's"):
        load.add("custodian1", C2, check_value(bytes.fromhex(C2)))
    with pytest.raises(KeyLoadError, match="one person cannot enter two"):
        MasterKeyLoad(("custodian1", "custodian1"))


def test_the_combined_check_value_must_be_confirmed():
    load = MasterKeyLoad(CUSTODIANS)
    load.add("custodian1", C1, "D5D44F")
    load.add("custodian2", C2, check_value(bytes.fromhex(C2)))
    with pytest.raises(KeyLoadError, match="combined key has check value 08D7B4, not 08D7B5"):
        load.confirm("08D7B5")


def test_components_that_cancel_into_a_single_des_key_are_refused():
    load = MasterKeyLoad(CUSTODIANS)
    load.add("custodian1", C1, "D5D44F")
    load.add("custodian2", "00" * 16, check_value(bytes(16)))
    with pytest.raises(KeyLoadError, match="halves are equal"):
        load.combined()


@given(st.lists(st.binary(min_size=16, max_size=16), min_size=3, max_size=3))
def test_three_components_xor(components):
    load = MasterKeyLoad(("custodian1", "custodian2", "custodian3"))
    for custodian, c in zip(load.custodians, components):
        load.add(custodian, c.hex(), check_value(c))
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
