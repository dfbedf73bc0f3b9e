"""The real helper processes the other tests rely on: pcscd and socat pty pairs (no mocks)."""

from __future__ import annotations

import os

import pytest
import serial

from tests import harness

pytestmark = pytest.mark.realstack


def test_pcscd_is_running_with_its_socket(pcscd):
    assert harness.PCSCD_SOCKET.exists()
    if pcscd.proc is not None:
        assert pcscd.proc.poll() is None


def test_pcscd_lists_the_virtual_readers(pcscd):
    from smartcard.System import readers

    names = harness.wait_for(lambda: [str(r) for r in readers()], 10, "PC/SC readers")
    assert any("Virtual PCD" in name for name in names), names


def test_pty_pair_carries_bytes_both_ways(pty_pair):
    # open both ends before writing: pyserial flushes input on open
    with serial.Serial(pty_pair.a, 115200, timeout=2) as a, serial.Serial(pty_pair.b, 115200, timeout=2) as b:
        a.write(b"login: ")
        assert b.read(7) == b"login: "
        b.write(b"tech\r")
        assert a.read(5) == b"tech\r"


def test_pty_pair_is_gone_after_teardown(tmp_path):
    pair = harness.start_pty_pair(tmp_path)
    pid = pair.proc.pid
    harness.stop_process(pair.proc)
    assert pair.proc.returncode is not None
    assert not os.path.exists(f"/proc/{pid}/status") or "zombie" not in open(f"/proc/{pid}/status").read()
